"""Watching one worker: the memory of its whole process tree against the cap, and the clock of its current test.

Memory is sampled more often the closer the tree is to the cap: the time its headroom would last at FILL_RATE (a
fast allocation loop), between SAMPLE_MIN and SAMPLE_MAX, so far below the cap the supervisor costs little CPU.
Every sample reads the worker's RSS (``statm``), whether it has children (``/proc/PID/task/*/children``) and the
memfd/tmpfs files its tree holds open (``/proc/PID/fd``: memory in no RSS). With children, its tree is walked and
each process counted at RSS + swap (``/proc/PID/status``: kernel counters, no page-table walk), an upper bound of
what it adds. Only when that bound crosses the cap is ``smaps_rollup`` (which walks every page table) read to
decide: the children's private memory, or the tree's PSS beyond the worker's RSS (pages children share), whichever
is larger. Never looser than those figures.
"""

from __future__ import annotations

import os
import signal

from ._sysutil import rss_of
from ._tree import children, descendants, held_shm_bytes, resident_bytes, smaps
from ._workers import Worker

FILL_RATE = 2 * 2**30  # bytes per second
SAMPLE_MIN, SAMPLE_MAX = 0.005, 0.1
DUMP_GRACE = 0.3  # time between the faulthandler signal and SIGKILL for a hung test
BETWEEN_TESTS_MIN = 60.0  # collection, session teardown and the exit after 'done' get at least this long
GAP_PER_TEST = 5.0  # seconds allowed per test outside its own clock (between pytest's logfinish and next logstart)


def tree_bytes(w: Worker, rss: int, limit: int) -> int:
    """What ``w``'s tests hold beyond its RSS ``rss``: the memfd/tmpfs files its tree holds open, plus the
    processes they started at their RSS + swap while that keeps the tree within ``limit``, else at what they
    add: the larger of their private memory and the PSS of the whole tree beyond ``rss`` (pages only children
    share). Records them in ``w.tree`` (killed with the worker)."""
    kids: list[int] = []
    if w.adopted or children(w.pid):
        kids = descendants(w.pid) + [d for a in w.adopted for d in (a, *descendants(a))]
        w.tree.update(kids)
    held = held_shm_bytes([w.pid, *kids])
    if not kids:
        return held
    bound = held + sum(resident_bytes(k) for k in kids)
    if rss + bound <= limit:
        return bound
    figures = [smaps(k) for k in kids]
    private = sum(p for p, _ in figures)
    pss = smaps(w.pid)[1] + sum(s for _, s in figures)
    return held + max(private, pss - rss)


def check(w: Worker, now: float, limit: int, timeout: float) -> str | None:
    """Sample ``w`` if it is due; the cause to kill it with now (``memory``, ``timeout``, ``exit:hang-at-exit``), or
    None.

    Three clocks: a running test's (its ``timeout`` marker, else ``timeout``), the time between tests (collection,
    session teardown: at least BETWEEN_TESTS_MIN since the last event) and, once the worker said ``done``, the
    time to exit (BETWEEN_TESTS_MIN since that event, which no later event moves: ``pytest_unconfigure``, atexit
    handlers, the coverage save); and, once collected, the session's whole budget (``session_budget``). Past its
    clock a worker first gets SIGUSR1, on which faulthandler dumps every thread's stack (even a GIL hog's); the
    kill follows DUMP_GRACE later.
    """
    if now >= w.next_sample:
        rss = rss_of(w.pid)
        if rss is not None:
            w.rss = rss + tree_bytes(w, rss, limit)  # the worker and every process its tests started
            if w.rss > limit:
                return "memory"
        headroom = max(0, limit - w.rss) / FILL_RATE
        w.next_sample = now + min(SAMPLE_MAX, max(SAMPLE_MIN, headroom))
    if w.dump_deadline is not None:
        return w.overdue if now >= w.dump_deadline else None
    if w.current:
        allowed, since, cause = w.timeouts.get(w.current, timeout), w.current_start, "timeout"
    elif w.done is not None:
        allowed, since, cause = BETWEEN_TESTS_MIN, w.done_at, "exit:hang-at-exit"
    else:
        allowed, since, cause = max(timeout, BETWEEN_TESTS_MIN), w.last_event, "timeout"
    if now - since > allowed or (w.deadline is not None and now > w.deadline):
        try:
            os.kill(w.pid, signal.SIGUSR1)
        except OSError:
            pass
        w.dump_deadline, w.overdue = now + DUMP_GRACE, cause
    return None


def session_budget(tests: int, clocks: float, timeout: float) -> float:
    """Seconds a worker may run once it has collected ``tests`` whose clocks sum to ``clocks``: those, GAP_PER_TEST
    per test, its session's teardown and its exit. Events move the clocks of ``check`` (a test that writes to the
    pipe can forge them); nothing moves this bound, so no worker runs forever."""
    return clocks + tests * GAP_PER_TEST + 2 * max(timeout, BETWEEN_TESTS_MIN)


def next_due(workers: list[Worker], now: float) -> float:
    """Seconds until the next sample of any of ``workers`` is due (events wake the supervisor sooner)."""
    due = min((w.next_sample for w in workers), default=now + SAMPLE_MAX)
    return min(SAMPLE_MAX, max(0.001, due - now))
