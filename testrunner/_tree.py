"""Process trees: the descendants of a worker, their memory, killing them, and a watchdog for the runner's death.

The supervisor is a child subreaper: a process a test started that outlives its parent (a double fork, a
``setsid`` daemon, the leftovers of a dead worker) is re-parented to it. Each worker's environment carries a tag
(``TESTRUNNER_RUN=<run uid>/<worker>``) that every process it starts inherits, so the supervisor can tell whose
such a process is: a live worker's counts in that worker's tree (memory cap included), a dead worker's is killed.
If the supervisor itself is SIGKILLed, the workers die by their parent-death signal and the watchdog (forked at
start, waiting for the supervisor's end of a pipe to close) kills the process groups of the workers it was told
about and every process carrying the run's tag.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import stat

from ._sysutil import rss_of

TAG_VAR = "TESTRUNNER_RUN"


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's), from ``/proc/PID/task/TID/children``."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                found.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return found


def descendants(pid: int, limit: int = 4096) -> list[int]:
    """Every descendant of ``pid``, breadth first (bounded, so a fork bomb cannot stall the supervisor)."""
    out: list[int] = []
    todo = children(pid)
    seen: set[int] = set()
    while todo and len(out) < limit:
        child = todo.pop(0)
        if child in seen:
            continue
        seen.add(child)
        out.append(child)
        todo.extend(children(child))
    return out


def smaps(pid: int) -> tuple[int, int]:
    """(private, proportional) memory of ``pid`` from ``smaps_rollup`` (which walks every page table): private
    clean + dirty + swap, and PSS + swap PSS (each page divided among the processes mapping it, so pages two
    children share count once over both). From ``statm``'s RSS if ``smaps_rollup`` cannot be read."""
    private = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith((b"Private_Clean:", b"Private_Dirty:", b"Swap:")):
                    private += int(line.split()[1]) * 1024
                elif line.startswith((b"Pss:", b"SwapPss:")):
                    pss += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        rss = rss_of(pid)
        return (0, 0) if rss is None else (rss, rss)
    return private, pss


_SHM_TYPES = (b"tmpfs", b"hugetlbfs", b"ramfs")


@functools.cache
def shm_devices() -> frozenset[int]:
    """Devices whose files are memory: every tmpfs, hugetlbfs and ramfs mount (``/dev/shm`` among them) and the
    kernel's internal one of ``memfd_create`` files. Read once."""
    devs: set[int] = set()
    try:
        with open("/proc/self/mountinfo", "rb") as fh:
            for line in fh:
                fields = line.split()
                if fields[fields.index(b"-") + 1] in _SHM_TYPES:
                    major, minor = fields[2].split(b":")
                    devs.add(os.makedev(int(major), int(minor)))
    except (OSError, ValueError, IndexError):
        pass
    try:
        fd = os.memfd_create("testrunner-probe")
        try:
            devs.add(os.fstat(fd).st_dev)
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    return frozenset(devs)


def held_shm_bytes(pids: list[int]) -> int:
    """Memory of the memfd, tmpfs (``/dev/shm``), hugetlbfs and ramfs files the processes ``pids`` hold open (each
    file once, at its allocated size): memory in no process's RSS unless mapped. One ``stat`` per descriptor."""
    devs = shm_devices()
    seen: set[tuple[int, int]] = set()
    total = 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")  # the open file itself (the link is followed)
            except OSError:
                continue
            if st.st_dev in devs and stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def resident_bytes(pid: int) -> int:
    """RSS + swap of ``pid`` from ``/proc/PID/status`` (kernel counters: no page-table walk), an upper bound of
    ``smaps``' figures; 0 once it is gone."""
    total = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith((b"VmRSS:", b"VmSwap:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return total


def kill_tree(root: int | None, pids: list[int] = ()) -> None:  # type: ignore[assignment]
    """SIGKILL ``root``'s process group, ``root``, its descendants and ``pids`` (and their descendants)."""
    for _ in range(3):  # a process forking while we kill: catch its new children on the next round
        victims = list(pids)
        if root is not None:
            with contextlib.suppress(OSError):
                os.killpg(root, signal.SIGKILL)
            victims = [root, *descendants(root), *victims]
        victims += [d for p in pids for d in descendants(p)]
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def tag_of(pid: int) -> str | None:
    """The ``TESTRUNNER_RUN`` value in ``pid``'s environment (inherited from the worker that started it)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    prefix = f"{TAG_VAR}=".encode()
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def tagged(run: str) -> list[int]:
    """Processes whose tag belongs to the run ``run`` (started, directly or not, by one of its workers)."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and (tag_of(int(entry)) or "").startswith(f"{run}/"):
            found.append(int(entry))
    return found


def start_watchdog(tag: str) -> tuple[int, int]:
    """Fork the watchdog; returns its pid and the write end of its pipe (send ``+PID``/``-PID`` lines of worker
    process groups; close it when done, then wait for the pid)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(rfd)
        return pid, wfd
    try:  # the watchdog: ignore Ctrl-C (the supervisor handles it), wait for the pipe to close, then clean up
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.close(wfd)
        os.closerange(3, rfd)
        os.closerange(rfd + 1, 65536)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        groups: set[int] = set()
        buf = b""
        while chunk := os.read(rfd, 4096):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.startswith(b"+"):
                    groups.add(int(line[1:]))
                elif line.startswith(b"-"):
                    groups.discard(int(line[1:]))
        for _ in range(3):
            for group in groups:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
            kill_tree(None, tagged(tag))
    finally:
        os._exit(0)
