"""The outermost process of a run: a child subreaper above the supervisor, so nothing outlives either of them.

``run_tests.py`` forks at once. The parent, the process its caller started (and may SIGKILL), becomes a child
subreaper and only waits; the child is the supervisor, and every other process of the run descends from it:

- the supervisor dies (SIGKILL, the OOM killer, a test killing its parent): the kernel re-parents everything it had
  (workers, the warm parent, daemons re-parented to it, tagged or not) to this process, which SIGKILLs all of it,
  says so and exits 2;
- this process dies (``kill -9`` of run_tests.py): the supervisor gets SIGTERM (its parent-death signal) and stops
  the run as on Ctrl-C: it kills its workers and every process re-parented to it, writes the reports and exits.

SIGINT and SIGTERM sent to this process are passed on to the supervisor once (it stops the run, as on Ctrl-C).
Without ``prctl`` (not Linux) the supervisor runs in this process, unguarded, as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from ._sysutil import become_subreaper, die_with_parent
from ._tree import children, kill_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

EXIT_INTERRUPTED = 2
_CLEANUP_S = 30.0  # a process in uninterruptible sleep may take a while to die; never wait forever


def guarded(main: Callable[[], int]) -> int:
    """Run ``main`` (the supervisor) in a child of this process, a subreaper; return its exit code."""
    if not become_subreaper():
        return main()
    guard = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        if not die_with_parent(guard, sig=signal.SIGTERM):
            os._exit(EXIT_INTERRUPTED)  # run_tests.py was killed before we started
        return main()
    forwarded: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if not forwarded:  # the supervisor ignores a second one (it may also get the same signal from a terminal)
            forwarded.append(signum)
            with contextlib.suppress(ProcessLookupError):  # it has just ended (and been reaped)
                os.kill(pid, signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal ends the supervisor; this process cleans up
    _, status = os.waitpid(pid, 0)
    left = kill_all_children()
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    print(f"run_tests.py: error: the supervisor (pid {pid}) was killed by signal {os.WTERMSIG(status)}; "
          f"{left} process(es) of the run it left were killed", file=sys.stderr)
    return EXIT_INTERRUPTED


def kill_all_children() -> int:
    """SIGKILL every child of this process (re-parented to it, a subreaper) with its descendants, and reap them,
    until none is left (or _CLEANUP_S passed); how many there were."""
    killed: set[int] = set()
    deadline = time.monotonic() + _CLEANUP_S
    while time.monotonic() < deadline:
        kids = children(os.getpid())
        if not kids:
            break
        killed.update(kids)
        kill_tree(None, kids)
        while True:
            try:
                reaped, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not reaped:
                break
        time.sleep(0.01)
    return len(killed)
