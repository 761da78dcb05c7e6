"""Linux process helpers: RSS sampling, prctl flags, available memory and optional cgroup v2 limits."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import time
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """Parse ``512M``, ``1G``, ``1.5GiB`` or a plain byte count into bytes (binary units)."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(f"invalid size {text!r}: use a number with an optional K/M/G/T suffix, e.g. 512M or 1G")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"invalid size {text!r}: must be greater than zero")
    return value


def format_size(num: int | None) -> str:
    """Human-readable binary size, e.g. ``123.4M``."""
    if num is None:
        return "-"
    value = float(num)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}G"  # pragma: no cover - loop always returns


def rss_of(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes from /proc (about 10 us), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def self_rss() -> int:
    """This process's current RSS in bytes."""
    return rss_of(os.getpid()) or 0


def available_memory() -> int:
    """Memory the kernel reports as available for new work (MemAvailable), in bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil  # type: ignore[import-untyped]  # fallback for kernels without MemAvailable

    return int(psutil.virtual_memory().available)


def _prctl(option: int, arg: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, arg, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Adopt orphaned descendants, so workers double-forked by the zygote become our children (wait4 works)."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(expected_parent: int, wait_s: float = 2.0, sig: int = signal.SIGKILL) -> bool:
    """Get ``sig`` (SIGKILL) when ``expected_parent`` exits; waits briefly for re-parenting to it first."""
    deadline = time.monotonic() + wait_s
    while os.getppid() != expected_parent:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0002)
    ok = _prctl(_PR_SET_PDEATHSIG, int(sig))
    return ok and os.getppid() == expected_parent


def native_thread_count() -> int:
    """Number of OS threads in this process (catches threads started by C extensions too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def delegated_cgroup() -> Path | None:
    """A writable cgroup v2 directory with the memory controller enabled for children, if one exists."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    rel = next((ln[3:] for ln in lines if ln.startswith("0::")), None)
    root = Path("/sys/fs/cgroup")
    if rel is None or not (root / "cgroup.controllers").exists():
        return None  # not a pure cgroup v2 hierarchy
    own = root / rel.lstrip("/")
    parent = own.parent if own != root else own
    for candidate in (own, parent):
        try:
            enabled = (candidate / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if "memory" in enabled and os.access(candidate, os.W_OK):
            return candidate
    return None


class CgroupLimiter:
    """Puts each worker in its own child cgroup with ``memory.max`` (only where one was delegated to us)."""

    def __init__(self, base: Path, limit: int) -> None:
        self._base = base
        self._limit = limit
        self._made: dict[int, Path] = {}

    def attach(self, pid: int) -> bool:
        """Create a cgroup for ``pid`` with the memory cap and move it there; False if the kernel refuses."""
        path = self._base / f"testrunner-{os.getpid()}-{pid}"
        try:
            path.mkdir()
            (path / "memory.max").write_text(str(self._limit))
            (path / "memory.swap.max").write_text("0") if (path / "memory.swap.max").exists() else None
            (path / "cgroup.procs").write_text(str(pid))
        except OSError:  # the kernel refused (no permission, controller gone): the RSS sampling still caps it
            self._remove(path)
            return False
        self._made[pid] = path
        return True

    def release(self, pid: int) -> None:
        """Remove the worker's cgroup once it has exited."""
        path = self._made.pop(pid, None)
        if path is not None:
            self._remove(path)

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.rmdir()
        except OSError:
            pass
