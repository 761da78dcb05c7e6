"""How much slower this machine runs Python right after a thread blocked: the wake-up penalty.

On a shared virtual machine a thread that blocks (an fsync, a sleep) leaves its vCPU idle, and the host gives the
core to other work; when the thread wakes, its first tens of microseconds of Python run on cold caches. A durable
call made one at a time runs all of its Python right after the wake of its commit's fsync, while a raw driver loop
runs three calls there. This probe times the same llmteam-free work (a uuid4, a canonical JSON text and its SHA-256,
as the bare audit chain does per record, over a smaller dict) in a tight loop and right after a 0.3 ms sleep or an
fsync, interleaved, and prints the medians, so the one-at-a-time figures beside it can be read. ``halt_polling``
reads whether the guest kernel polls before halting an idle vCPU, which decides what a network round trip waits.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

_PAYLOAD = {"event_type": "data.created", "tenant_id": "bench", "actor_id": "alice", "action": "read",
            "resource_type": "doc", "resource_id": "d1", "metadata": {}, "tags": [], "success": True}


def neutral_work() -> str:
    """One bare-chain-like record: llmteam-free Python of about the size of one audit record's build."""
    body = {**_PAYLOAD, "record_id": str(uuid.uuid4())}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _timed_after(before: Callable[[], object], n: int) -> float:
    """Median microseconds of :func:`neutral_work` right after ``before()`` (untimed), over ``n`` repetitions."""
    times = []
    for _ in range(n):
        before()
        t0 = time.perf_counter()
        neutral_work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def wake_penalty(rounds: int = 5, n: int = 200) -> dict[str, float]:
    """Median µs of the same work: in a tight loop, after a 0.3 ms sleep, after a 128-byte append + fsync."""
    with tempfile.TemporaryDirectory() as folder:
        fd = os.open(os.path.join(folder, "probe"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

        def fsync() -> None:
            os.write(fd, b"x" * 128)
            os.fsync(fd)

        sides: dict[str, Callable[[], object]] = {
            "in a tight loop": lambda: None, "after a 0.3 ms sleep": lambda: time.sleep(0.0003),
            "after an fsync": fsync,
        }
        medians: dict[str, list[float]] = {name: [] for name in sides}
        try:
            for _ in range(rounds):
                for name, before in sides.items():
                    medians[name].append(_timed_after(before, n))
        finally:
            os.close(fd)
    return {name: statistics.median(values) for name, values in medians.items()}


def print_wake_penalty() -> None:
    """Print the probe's line: the same work hot and right after a wake-up, and their ratio."""
    us = wake_penalty()
    hot = us["in a tight loop"]
    print("this machine: the same llmteam-free Python (uuid4, canonical JSON, SHA-256) takes "
          + ", ".join(f"{v:.1f} µs {k}" for k, v in us.items())
          + f" (x{us['after an fsync'] / hot:.1f} after an fsync): one-at-a-time durable calls run their Python "
          "right after such a wake", flush=True)


if __name__ == "__main__":
    print_wake_penalty()


def halt_polling() -> str:
    """The guest kernel's idle halt polling, where it has the setting: at 0 (this project's VM) every idle vCPU halts
    and a Redis round trip pays a wake-up on each side, which a client still busy when its reply arrives does not
    (docs/performance.md, 2026-11-29: the decision vs limits x0.98 to x1.11 at 0, x1.32 to x1.51 at the default)."""
    try:
        with open("/sys/module/haltpoll/parameters/guest_halt_poll_ns", encoding="ascii") as setting:
            return f"; guest_halt_poll_ns {setting.read().strip()}"
    except OSError:
        return ""
