"""What the supervisor knows about each live worker, the culprit a dead one names, and what the supervisor does with
processes re-parented to it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ._schedule import Job
from ._state import CaseResult, Culprit, ModuleState
from ._tree import children, descendants, kill_tree, tag_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass
class Worker:
    """One live worker process and what the supervisor knows about it."""

    pid: int
    fd: int
    job: Job
    slot: int
    tmpdir: str
    stack_file: str
    launched: float
    buf: bytearray = field(default_factory=bytearray)
    current: str | None = None
    current_start: float = 0.0
    current_wall: float = 0.0
    last_event: float = 0.0
    next_sample: float = 0.0
    rss: int = 0
    tree: set[int] = field(default_factory=set)
    kill_cause: str | None = None
    killed_at: float | None = None
    dump_deadline: float | None = None
    overdue: str = "timeout"  # the cause a worker past its clock is killed with
    done: dict[str, Any] | None = None
    done_at: float = 0.0
    items: int = 0  # tests this worker collected
    clocks: float = 0.0  # the sum of their timeouts
    deadline: float | None = None  # the latest it may run to, once collected (see _watch.session_budget)
    collecting: str | None = None
    collected: bool = False
    progressed: bool = False
    interrupted: str | None = None
    eof: bool = False
    crash: str = ""
    tag: str = ""
    timeouts: dict[str, float] = field(default_factory=dict)
    adopted: set[int] = field(default_factory=set)
    test_s: float = 0.0

    @property
    def state(self) -> ModuleState:
        return self.job.state


_STACK_MAX = 20000
_WHY = {"memory": "exceeded the memory cap", "timeout": "exceeded the per-test timeout",
        "exit:hang-at-exit": "did not exit in time after its pytest session ended",
        "bad-event": "its event pipe carried a line that is not an event of the runner"}


def culprit_of(w: Worker, cause: str, peak: int, rootdir: str) -> tuple[Culprit, CaseResult]:
    """The culprit a worker killed by ``cause`` names, and the result it gets: the test it was running, else the
    file it was importing (an error; that file is then dropped from the job, so the rest of it resumes), else the
    job's first file ``::<collection>`` or ``::<outside any test>``. A hung test's culprit carries the stack dump."""
    outcome = "failed"
    if w.current is not None:
        nodeid = w.current
    elif not w.collected and w.collecting:
        rel = os.path.relpath(w.collecting, rootdir)
        nodeid, outcome = f"{rel}::<collection>", "error"
        w.job.dropped.add(next((f for f in w.job.files if os.path.abspath(f) == w.collecting), w.collecting))
    elif not w.collected:
        nodeid, outcome = f"{w.job.files[0]}::<collection>", "error"
    else:
        nodeid = f"{w.job.files[0]}::<outside any test>"
    stack = ""
    if cause in ("timeout", "exit:hang-at-exit"):
        try:
            with open(w.stack_file, encoding="utf-8", errors="replace") as fh:
                stack = fh.read(_STACK_MAX)
        except OSError:
            stack = ""
    rss = w.rss or peak
    culprit = Culprit(nodeid, cause, rss, stack, peak, w.killed_at or time.time(),
                      w.current_wall if w.current else None)
    text = f"worker died while running this test: {_WHY.get(cause, cause)} (RSS {rss} bytes). {w.crash}".strip()
    duration = time.monotonic() - w.current_start if w.current else 0.0
    return culprit, CaseResult(nodeid, outcome, duration, text, cause)


def settle_orphans(ours: set[Any], workers: list[Worker], force: bool) -> None:
    """Processes re-parented to the supervisor (the subreaper), each classified once. One whose tag names a live
    worker, or that is still in a live worker's process group, joins that worker's tree. One without a tag (a test
    cleared its environment, or forked without exec in a forked worker) in a group of its own cannot be told
    apart: it joins the tree of every live worker (its memory counts against each one's cap) and dies when the
    last of them has ended. A dead worker's (tagged with it) is killed, and so is every one while no worker lives,
    or with ``force``. Then reap the zombies among them."""
    by_tag = {w.tag: w for w in workers}
    by_group = {w.pid: w for w in workers}
    known = {p for w in workers for p in w.adopted}
    strays = []
    for pid in children(os.getpid()):
        if pid in ours or (pid in known and not force):
            continue
        stat = _stat(pid)
        if stat is None or stat[0] == b"Z":
            continue  # a zombie is reaped, not killed
        if force or not workers:
            strays.append(pid)
            continue
        tag = tag_of(pid)
        owner = by_tag.get(tag) if tag is not None else by_group.get(stat[1])
        if tag is not None and owner is None:
            strays.append(pid)
        else:
            for w in [owner] if owner is not None else workers:
                w.adopted.add(pid)
    if strays:
        kill_tree(None, strays)
    _reap_zombies(ours, workers)


def leftovers(w: Worker, others: list[Worker]) -> list[int]:
    """What dies with the ended worker ``w``: its tree, except the untagged orphans it shares with ``others`` (live
    workers) and their descendants."""
    shared = w.adopted & {p for o in others for p in o.adopted}
    spared = {d for p in shared for d in (p, *descendants(p))}
    return [p for p in w.tree | w.adopted if p not in spared]


def _reap_zombies(ours: set[Any], workers: list[Worker]) -> None:
    for _ in range(256):
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid in ours:
            return
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            return
        for w in workers:
            w.adopted.discard(info.si_pid)


def _stat(pid: int) -> tuple[bytes, int] | None:
    """State and process group of ``pid`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0], int(fields[2])
    except (OSError, IndexError, ValueError):
        return None
