"""Peers in their own virtualenvs, timed interleaved with our side: the shared harness of the *_peers benchmarks.

A peer (pm4py is AGPL: never a dependency, only an oracle) is installed into a virtualenv under
``~/.cache/llmteam-bench/<name>`` on first use. Its worker script runs in a long-lived subprocess that prepares its
data once, then answers each ``run`` line on stdin with the seconds one repetition took; ``interleave`` alternates
our repetition and the peer's, so both sides see the same machine load, and reports medians. ``side_by_side`` does
the same for two async callables in one process (short rounds, ABBA, the median of the rounds' ratios).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Awaitable, Callable
from pathlib import Path

CACHE = Path(os.environ.get("LLMTEAM_BENCH_CACHE", Path.home() / ".cache" / "llmteam-bench"))


def peer_python(name: str, requirements: list[str]) -> Path:
    """The interpreter of a virtualenv holding ``requirements`` (created and installed once, then reused)."""
    home = CACHE / name
    python = home / "bin" / "python"
    stamp = home / "requirements.json"
    if not python.exists() or not stamp.exists() or json.loads(stamp.read_text()) != requirements:
        print(f"[{name}] creating its virtualenv in {home} (first run only) ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
        stamp.write_text(json.dumps(requirements))
    return python


class Peer:
    """A worker script running in a peer's interpreter; ``time_one()`` asks it for one timed repetition."""

    def __init__(self, python: Path, script: str, *args: str) -> None:
        self._proc = subprocess.Popen(
            [str(python), "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        ready = self._read()
        if not ready.startswith("ready"):
            raise RuntimeError(f"peer worker did not start: {ready!r}")
        self.info = ready[len("ready") :].strip()
        """What the worker said about its prepared data (a checksum to compare with ours)."""

    def _read(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer worker exited with {self._proc.wait()}")
        return line.strip()

    def time_one(self) -> float:
        assert self._proc.stdin is not None
        self._proc.stdin.write("run\n")
        self._proc.stdin.flush()
        return float(self._read())

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=60)


def time_call(fn: Callable[[], object]) -> float:
    """CPU seconds one call of ``fn`` took (process time: other work on a shared machine distorts it least)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def interleave(ours: Callable[[], float], peer: Callable[[], float], rounds: int) -> tuple[float, float]:
    """Median seconds of ours and of the peer, one repetition each per round, alternating which goes first."""
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2:
            b.append(peer())
            a.append(ours())
        else:
            a.append(ours())
            b.append(peer())
    return statistics.median(a), statistics.median(b)


def row(path: str, ours_s: float, peer_s: float, target: float | None,
        unit: str = "s") -> tuple[str, str, str, str, str]:
    """One printed row: the path, both medians, the ratio (peer time / our time: above 1 means we are faster);
    ``target=None`` for a row printed for information, with no target."""
    ratio = peer_s / ours_s
    met = "(no target)" if target is None else "yes" if ratio >= target else "NO"
    return (path, f"{ours_s:.4f} {unit}", f"{peer_s:.4f} {unit}", f"x{ratio:.2f}", met)


def print_table(rows: list[tuple[str, str, str, str, str]], peer_name: str) -> None:
    """The side-by-side table: figure, our median, the peer's median, ratio, target met."""
    head = ("path", "llmteam (median)", f"{peer_name} (median)", "ratio", "target met")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


async def per_call_us(body: Callable[[], Awaitable[object]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await body()
    return (time.perf_counter() - start) / n * 1e6


async def side_by_side(
    ours: Callable[[], Awaitable[Callable[[], Awaitable[object]]]],
    peer: Callable[[], Awaitable[Callable[[], Awaitable[object]]]],
    n: int,
    rounds: int,
) -> tuple[float, float, float]:
    """Median µs per call of ``ours`` and ``peer``, and the median of the rounds' ratios (peer / ours).

    Each side is set up once; then ``rounds`` rounds of ``n`` calls each, the sides taking turns (ABBA order, so
    neither always runs first). A round of each side takes milliseconds, so the two calls of a pair see the same
    machine: the ratio of a pair does not move when this shared machine changes pace between pairs, which the
    ratio of two medians over a whole run does (it measured 0.82x to 1.11x on the same code within minutes)."""
    call_ours, call_peer = await ours(), await peer()
    ours_us, peer_us, ratios = [], [], []
    for i in range(rounds):
        if i % 2 == 0:
            mine, theirs = await per_call_us(call_ours, n), await per_call_us(call_peer, n)
        else:
            theirs, mine = await per_call_us(call_peer, n), await per_call_us(call_ours, n)
        ours_us.append(mine)
        peer_us.append(theirs)
        ratios.append(theirs / mine)
    return statistics.median(ours_us), statistics.median(peer_us), statistics.median(ratios)
