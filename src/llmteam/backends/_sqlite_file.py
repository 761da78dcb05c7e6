"""Where a SQLite database lives and how a connection to it is opened, switched to WAL and begun.

:class:`SQLiteFile` resolves a path once: ``:memory:`` becomes a private temporary file (same locking and WAL
behaviour as any other file), and an existing file this process may not write (an auditor's copy in a
read-only directory) is opened read-only. :class:`~llmteam.backends.sqlite.SQLiteDatabase` builds its writer
thread and transactions on top of it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

__all__ = ["SQLiteFile", "begin_immediate", "check_synchronous"]


def check_synchronous(synchronous: str) -> None:
    """Refuse a commit level other than FULL (the default) and NORMAL (the documented opt-in)."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous={synchronous!r} is not supported; use 'FULL' or 'NORMAL'")


class SQLiteFile:
    """A SQLite file path, resolved once, and the connections opened on it (WAL, busy timeout, commit level)."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 30_000) -> None:
        raw = os.fspath(path)
        if not raw:
            raise ValueError("SQLite path is empty; give a file path or ':memory:'")
        if os.path.islink(raw):  # also a dangling one: SQLite would create the database at its target
            raise ValueError(
                f"SQLite path {raw!r} is a symbolic link (to {os.path.realpath(raw)!r}); llmteam never opens a "
                "database through a symlink: give the real path of the file"
            )
        self.path = raw
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._tmpdir: str | None = None
        if raw == ":memory:":  # a private file: same locking and WAL behaviour as any other
            self._tmpdir = tempfile.mkdtemp(prefix="llmteam-sqlite-")
            self._target = os.path.join(self._tmpdir, "memory.db")
        else:  # a relative "file:..." would be read as a URI where SQLite is built to read them everywhere
            self._target = os.path.join(".", raw) if raw.startswith("file:") else raw
        # an existing file we may not write (an auditor's copy in a read-only directory) is opened read-only:
        # immutable=1 only where no -shm can be created and no WAL holds commits
        folder_writable = os.access(os.path.dirname(os.path.abspath(raw)), os.W_OK)
        self.read_only = raw != ":memory:" and os.path.isfile(raw) and not (os.access(raw, os.W_OK) and folder_writable)
        wal = Path(raw + "-wal")
        frozen = self.read_only and not folder_writable and not (wal.exists() and wal.stat().st_size)
        self._ro_uri = Path(raw).resolve().as_uri() + ("?mode=ro&immutable=1" if frozen else "?mode=ro")

    def connect(self, *, readonly: bool, synchronous: str) -> sqlite3.Connection:
        """A new connection in autocommit mode (transactions are explicit): WAL, ``synchronous``, foreign keys.

        A read-only connection waits up to ``busy_timeout_ms`` for locks; a write connection has no busy
        handler, because :func:`begin_immediate` decides per call whether to wait (in the writer thread) or not
        (on the event-loop thread).
        """
        if self.read_only:
            reader = sqlite3.connect(self._ro_uri, uri=True, isolation_level=None, check_same_thread=False,
                                     timeout=self.busy_timeout_ms / 1000)
            reader.execute("PRAGMA query_only=1")
            return reader
        Path(self._target).parent.mkdir(parents=True, exist_ok=True)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                self._target, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout_ms / 1000,
            )
            conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            self._enable_wal(conn)
        except sqlite3.OperationalError as exc:
            if conn is not None:
                conn.close()
            if "unable to open" not in str(exc):
                raise
            raise sqlite3.OperationalError(
                f"unable to open SQLite database file {self.path!r} (a folder, a special file, or no permission "
                "to create it and its -wal file there): give the path of a database file"
            ) from exc
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        if readonly:
            conn.execute("PRAGMA query_only=1")
        else:
            conn.execute("PRAGMA busy_timeout=0")
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL, retrying while another process does the same on a brand-new file.

        SQLite does not call the busy handler when the switch would need a lock escalation that could deadlock,
        so two processes opening a new file at once can see "database is locked" at once; we retry until
        ``busy_timeout`` instead.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def remove_temporary(self) -> None:
        """Delete the private file behind ``:memory:`` (nothing for a real path); call after closing connections."""
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def begin_immediate(conn: sqlite3.Connection, *, wait_ms: int) -> bool:
    """``BEGIN IMMEDIATE`` on a write connection; False if another connection holds the write lock.

    With ``wait_ms`` > 0 (the writer thread) it retries for up to that long, backing off like SQLite's own busy
    handler, and then raises; with 0 (the loop thread) it gives up at once. The write connection has no busy
    handler of its own, so no statement has to switch one off and on around an inline commit.
    """
    deadline = 0.0  # set at the first refusal: the usual BEGIN succeeds at once and needs no clock
    delay = 0.001
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):  # SQLITE_BUSY: "database is locked"; anything else is a real error
                raise
            if not wait_ms:
                return False
            now = time.monotonic()
            deadline = deadline or now + wait_ms / 1000
            left = deadline - now
            if left <= 0:
                raise
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
