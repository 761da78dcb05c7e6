"""Safe file writes shared by every module: atomic replacement through an unpredictable temporary file, and
exclusive creation that never follows a symlink. Imports no other llmteam module (ground floor).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["atomic_text_writer", "atomic_write_bytes", "atomic_write_text", "create_exclusive"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_text_writer`): an image, say."""
    with _atomic(path, mode, binary=True) as fh:
        fh.write(data)


def atomic_text_writer(
    path: str | os.PathLike[str], *, mode: int = 0o644
) -> contextlib.AbstractContextManager[IO[str]]:
    """Yield a text file that replaces ``path`` atomically once the block ends without an error.

    The temporary file is created by :func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``, a random name) in the target's
    directory, so a symlink planted under a predictable name is never written through; ``os.replace`` then swaps
    the name itself (a symlink at ``path`` is replaced, not followed). On any error the temporary file is removed
    and ``path`` is left as it was.
    """
    return _atomic(path, mode, binary=False)


@contextlib.contextmanager
def _atomic(path: str | os.PathLike[str], mode: int, *, binary: bool) -> Iterator[Any]:
    target = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` atomically (see :func:`atomic_text_writer`)."""
    with atomic_text_writer(path, mode=mode) as fh:
        fh.write(text)


def create_exclusive(path: str | os.PathLike[str], text: str, *, mode: int = 0o600) -> None:
    """Create ``path`` holding ``text``; raise FileExistsError if anything (a file or a symlink) is already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
