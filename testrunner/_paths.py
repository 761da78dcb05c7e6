"""Where the runner writes: checked before anything starts, so a bad ``--state-dir``, ``--json`` or ``--junitxml``
is one clear usage error (exit 2), not a traceback after the run; and the state directory is written only where it
says: a symbolic link in it (a checkout may carry one, a test may plant one) is refused or replaced, never
followed."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

_SHOWN = 200  # characters of a path quoted in an error
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
STATE_DIRS = ("logs", "stacks", "specs", "coverage")


def shown(path: str) -> str:
    """``path`` quoted for an error message, bounded."""
    return repr(path if len(path) <= _SHOWN else path[:_SHOWN] + "...")


def check_state_dir(path: str) -> str | None:
    """Create the state directory if needed; why it cannot be used, or None."""
    bad = state_symlink(path, STATE_DIRS)
    if bad is not None:
        return bad
    if os.path.lexists(path) and not os.path.isdir(path):
        return f"--state-dir {shown(path)} is not a directory; give a directory (created if missing)"
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--state-dir {shown(path)} cannot be used: {exc.strerror}; give a directory (created if missing)"
    return None


def check_report(option: str, path: str) -> str | None:
    """Whether the report ``path`` can be written as it will be (a temporary file beside it, then a rename): try
    that in its directory (created if missing); why not, or None."""
    target = Path(path)
    if target.is_dir():
        return f"{option} {shown(path)} is a directory; give a file name"
    probe = target.parent / f".{target.name}.{os.urandom(6).hex()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, _NEW, 0o600))
        probe.unlink()
    except OSError as exc:
        return f"{option} {shown(path)} cannot be written: {exc.strerror}; give a file in a writable directory"
    return None


def state_symlink(state_dir: str, subs: tuple[str, ...]) -> str | None:
    """The state directory or one of its ``subs`` that is a symbolic link (a checkout may carry one), as an error:
    the runner writes only into real directories, never through a link to another place."""
    for path in (state_dir, *(os.path.join(state_dir, sub) for sub in subs)):
        if os.path.islink(path):
            return (f"{shown(path)} is a symbolic link; the runner writes its state only into real directories: "
                    "remove it, or give --state-dir a real directory")
    return None


def fresh_dirs(state_dir: Path, subs: tuple[str, ...]) -> str | None:
    """Empty ``subs`` of the state directory (removed, then made again; never through a symbolic link); why one
    cannot be, or None."""
    bad = state_symlink(str(state_dir), subs)
    if bad is not None:
        return bad
    for sub in subs:
        path = state_dir / sub
        shutil.rmtree(path, ignore_errors=True)
        try:
            path.mkdir()
        except OSError as exc:
            return f"cannot make {shown(str(path))} afresh: {exc.strerror}; remove it"
    return None


def create_new(path: str) -> str:
    """Create ``path`` as a new empty file, never through a symbolic link (an old entry is removed first, then the
    file made with O_EXCL|O_NOFOLLOW); if something keeps taking the name, a new random name beside it. Returns the
    path made."""
    for _ in range(3):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # unlink removes a symbolic link itself, never its target
        try:
            os.close(os.open(path, _NEW, 0o644))
            return path
        except FileExistsError:
            continue
    stem, ext = os.path.splitext(path)
    while True:
        other = f"{stem}.{os.urandom(4).hex()}{ext}"
        try:
            os.close(os.open(other, _NEW, 0o644))
            return other
        except FileExistsError:
            continue


def read_state_file(path: Path, limit: int = 64 * 2**20) -> str | None:
    """The text of a regular file in the state directory (at most ``limit`` bytes), never read through a symbolic
    link; None if it cannot be read so."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return fh.read(limit).decode("utf-8", errors="replace")
