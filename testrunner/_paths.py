"""Where the runner writes: checked before anything starts, so a bad ``--state-dir``, ``--json`` or ``--junitxml``
is one clear usage error (exit 2), not a traceback after the run."""

from __future__ import annotations

import os
from pathlib import Path

_SHOWN = 200  # characters of a path quoted in an error


def shown(path: str) -> str:
    """``path`` quoted for an error message, bounded."""
    return repr(path if len(path) <= _SHOWN else path[:_SHOWN] + "...")


def check_state_dir(path: str) -> str | None:
    """Create the state directory if needed; why it cannot be used, or None."""
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
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        probe.unlink()
    except OSError as exc:
        return f"{option} {shown(path)} cannot be written: {exc.strerror}; give a file in a writable directory"
    return None
