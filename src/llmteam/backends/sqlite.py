"""One SQLite file shared by stores: WAL, durable commits, one writer thread, and an inline reader.

:class:`SQLiteBackend` is what ``open_backend("sqlite:///path.db")`` returns: every store of a process on that
file shares it, so the file has one writer thread and one write connection whatever stores are open.
``sqlite:///:memory:`` is a private temporary file (removed on close) rather than a shared-cache in-memory
database, whose table locks bypass the busy handler ("database table is locked").

Writes run in a dedicated thread inside ``BEGIN IMMEDIATE ... COMMIT`` so a write that returned has been
committed (``synchronous=FULL`` by default: nothing acknowledged is lost on power failure; ``NORMAL``, the
opt-in ``sqlite:///path?synchronous=normal``, keeps WAL durability against process crashes and may lose the
last commits on power loss). Openers of one file share its backend at the strictest level any of them asked
for: a ``NORMAL`` opener never weakens a ``FULL`` one (:meth:`SQLiteDatabase.require_synchronous`). Point reads run on
the event-loop thread over a separate read-only connection, because a short indexed lookup costs less than
a thread hop; long scans go through :meth:`SQLiteDatabase.read_in_thread`. Several processes may share one
file: ``BEGIN IMMEDIATE`` serialises writers, and the writer thread waits up to ``busy_timeout_ms`` for the
write lock another process holds.

:meth:`SQLiteDatabase.write_short` is the one exception to "writes run in the writer thread": a short
transaction commits inline on the loop thread when the writer is idle, the write lock is free at once and
recent short commits took under ``INLINE_MAX_SECONDS`` (10 ms: about one fsync on a healthy disk), because then
the thread hop (a context switch on a loaded machine) costs a large share of the commit.
Two slow short commits in a row (one fsync spike alone is not a slow disk; a big batch is slow for its size)
or a busy lock send writes back to the writer thread, so the loop is never blocked for long; a quick commit
there brings them back inline. :meth:`SQLiteDatabase.execute_short` does the same for one parameterised statement
(a lone audit INSERT), which inline needs no ``BEGIN``/``COMMIT``: SQLite commits a statement outside a transaction
by itself, just as durably. How the file is found and connected to lives in :mod:`._sqlite_file`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal, TypeVar

from llmteam.backends._base import Backend, open_backend, pending_steps, register_scheme
from llmteam.backends._sqlite_file import SQLiteFile, begin_immediate, check_synchronous
from llmteam.backends.url import StoreURL

T = TypeVar("T")
# A schema step: statements, or a function of the connection for a step whose work depends on what the file holds
Statement = str | Callable[[sqlite3.Connection], None]
Migrations = Sequence[Sequence[Statement]]  # step 1 first

# write_short() runs a transaction on the loop thread only while short commits take less than this...
INLINE_MAX_SECONDS = 0.01
# ...or fewer than this many commits in a row took longer (one fsync spike alone does not send writes to the thread)
SLOW_COMMITS = 2
SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"


class SQLiteDatabase(SQLiteFile):
    """A SQLite database file with one writer thread and an inline read-only connection."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 30_000,
    ) -> None:
        check_synchronous(synchronous)
        super().__init__(path, busy_timeout_ms=busy_timeout_ms)
        self.synchronous = synchronous
        self._executor: ThreadPoolExecutor | None = None
        self._writer: sqlite3.Connection | None = None
        self._writer_sync = ""  # the level the open write connection commits at (PRAGMA synchronous)
        self._reader: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()  # one transaction at a time on the write connection
        self._slow = 0  # how many of the latest short commits in a row took INLINE_MAX_SECONDS or more
        self._schemas: set[str] = set()
        self._closed = False

    # -- connections -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"SQLite database {self.path!r} is closed; open a new store")

    def writer(self) -> sqlite3.Connection:
        """The write connection (opened on first use); only touch it while holding the write lock.

        It commits at :attr:`synchronous` as it is now: a level raised by :meth:`require_synchronous` since the
        last write is applied here, between transactions.
        """
        with self._lock:
            self._check_open()
            if self._writer is None:
                self._writer = self.connect(readonly=False, synchronous=self.synchronous)
                self._writer_sync = self.synchronous
            elif self._writer_sync != self.synchronous:
                self._writer.execute(f"PRAGMA synchronous={self.synchronous}")
                self._writer_sync = self.synchronous
            return self._writer

    def require_synchronous(self, synchronous: str) -> None:
        """Commit at least as durably as ``synchronous`` asks from the next write on (FULL is stronger than NORMAL).

        A file shared by several stores commits as durably as the most demanding of them asked: one store's
        opt-in to ``NORMAL`` never weakens another's ``FULL``. The level is never lowered.
        """
        check_synchronous(synchronous)
        if synchronous == "FULL":
            self.synchronous = "FULL"

    def reader(self) -> sqlite3.Connection:
        """The read-only connection used for inline point reads."""
        with self._lock:
            self._check_open()
            if self._reader is None:
                self._reader = self.connect(readonly=True, synchronous=self.synchronous)
            return self._reader

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            self._check_open()
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmteam-sqlite")
            return self._executor

    # -- operations ----------------------------------------------------------------------------------
    def _transaction(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], *, short: bool) -> T:
        """``fn(conn)`` in the begun transaction, then COMMIT (ROLLBACK if it raises); the caller holds the lock.

        Only a ``short`` transaction (:meth:`write_short`) tells how quickly the disk commits: a long batch or a
        migration is slow for its own size.
        """
        t0 = time.perf_counter()
        try:
            result = fn(conn)
            if isinstance(result, sqlite3.Cursor):
                result.close()
                result = None  # type: ignore[assignment]
            conn.execute("COMMIT")  # a failed COMMIT (a deferred constraint, I/O) leaves the transaction open
        except BaseException:
            self._rollback(conn)
            raise
        if short:
            self._timed_short(t0)
        return result

    def _timed_short(self, t0: float) -> None:
        """Count a short commit begun at ``t0`` (``perf_counter``): slow ones in a row send writes to the thread."""
        self._slow = 0 if time.perf_counter() - t0 < INLINE_MAX_SECONDS else self._slow + 1

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        """End the open transaction, if any, without hiding the error that is being raised."""
        if not conn.in_transaction:  # SQLite already rolled back (or ``fn`` ended the transaction itself)
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:  # pragma: no cover - the connection itself is broken; the original error wins
            pass

    def write_sync(self, fn: Callable[[sqlite3.Connection], T], *, short: bool = False) -> T:
        """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction and commit; roll back if it raises.

        ``fn`` returns plain data (rows, counts). A cursor it returns is closed here and ``None`` is returned
        instead: finalising it on another thread would race this connection's reuse of the statement.
        """
        with self._write_lock:
            conn = self.writer()
            begin_immediate(conn, wait_ms=self.busy_timeout_ms)
            return self._transaction(conn, fn, short=short)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` as one committed transaction in the writer thread; when this returns it is durable."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), self.write_sync, fn)

    async def write_short(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Like :meth:`write` for a short transaction (a few rows), durable on return, with no thread hop if possible.

        When the write connection is idle, no other connection holds the write lock and fewer than
        ``SLOW_COMMITS`` short commits in a row took ``INLINE_MAX_SECONDS`` or more, ``fn`` runs on the calling
        (loop) thread: the hop to the writer thread costs about as much as the commit itself. Otherwise, or if
        ``BEGIN IMMEDIATE`` would have to wait, it runs in the writer thread.
        """
        conn = self._inline_writer()
        if conn is not None:
            try:
                if begin_immediate(conn, wait_ms=0):  # never wait for another process on the loop thread
                    return self._transaction(conn, fn, short=True)
            finally:
                self._write_lock.release()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), partial(self.write_sync, fn, short=True))

    def _inline_writer(self) -> sqlite3.Connection | None:
        """The write connection, with the write lock taken, if a short write may run on this thread now; else None.

        Now means: fewer than ``SLOW_COMMITS`` slow short commits in a row, not closed, and the write lock free at
        once. The caller releases the lock.
        """
        if self._slow >= SLOW_COMMITS or self._closed or not self._write_lock.acquire(False):  # False: don't wait
            return None
        conn = self._writer  # open at the level asked for: no need for writer()'s lock (we hold the write lock)
        if conn is None or self._writer_sync != self.synchronous:
            try:
                conn = self.writer()
            except BaseException:
                self._write_lock.release()
                raise
        return conn

    async def execute_short(self, sql: str, params: Sequence[Any]) -> None:
        """Run one parameterised write statement (a lone INSERT) as its own durable transaction.

        The same rules as :meth:`write_short` decide where it runs. Inline it is a single call into SQLite: a
        statement outside ``BEGIN`` is its own transaction, which takes the write lock (at once or not at all: the
        write connection has no busy handler), writes, and commits at :attr:`synchronous` before returning, or
        fails and leaves nothing. That is what ``BEGIN IMMEDIATE``, the statement and ``COMMIT`` do in three
        calls. Refused the lock ("database is locked"), it runs in the writer thread, which waits for it.
        """
        conn = self._inline_writer()
        if conn is not None:
            try:
                t0 = time.perf_counter()
                try:
                    conn.execute(sql, params)
                    if conn.in_transaction:  # the statement began one (it was not a lone write): undo, refuse
                        raise ValueError(f"execute_short runs one write statement, not {sql!r}; use write_short")
                except BaseException as exc:
                    self._rollback(conn)  # a failed statement left nothing; a ValueError's transaction goes here
                    if not (isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)):
                        raise
                else:
                    self._timed_short(t0)
                    return
            finally:
                self._write_lock.release()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool(), partial(self.write_sync, partial(_statement, sql, params), short=True))

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the read-only connection in the calling thread."""
        return fn(self.reader())

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A short read (an indexed lookup) inline on the loop thread: cheaper than a thread hop."""
        return self.read_sync(fn)

    async def read_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A long read (a scan, a report page) in a worker thread so the loop stays responsive."""
        return await asyncio.to_thread(self._read_fresh, fn)

    def _read_fresh(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self.connect(readonly=True, synchronous=self.synchronous)
        try:
            return fn(conn)
        finally:
            conn.close()

    def ensure_schema_sync(self, component: str, migrations: Migrations) -> None:
        """Apply ``component``'s migration steps newer than its ``schema_version`` row, in one transaction.

        ``migrations[0]`` is step 1. The row records the last step applied; a database at a higher step than
        this llmteam knows raises :class:`~llmteam.SchemaVersionError`.
        """
        if component in self._schemas:
            return
        steps = [list(step) for step in migrations]
        if self.read_only:  # nothing can be created or migrated: the tables must be there, up to date
            try:
                found = self.reader().execute(
                    "SELECT version FROM schema_version WHERE component = ?", (component,)).fetchone()
            except sqlite3.OperationalError:
                found = None
            if found is None or int(found[0]) != len(steps):
                raise sqlite3.OperationalError(
                    f"{self.path!r} is read-only and holds no {component} tables at v{len(steps)}; "
                    "open a writable copy")
            self._schemas.add(component)
            return

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(SCHEMA_TABLE)
            row = conn.execute("SELECT version FROM schema_version WHERE component = ?", (component,)).fetchone()
            current = 0 if row is None else int(row[0])
            for number, step in pending_steps(repr(self.path), component, current, steps):
                for stmt in step:
                    if isinstance(stmt, str):
                        conn.execute(stmt)
                    else:
                        stmt(conn)
                conn.execute(
                    "INSERT INTO schema_version(component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, number),
                )

        self.write_sync(apply)
        self._schemas.add(component)

    async def ensure_schema(self, component: str, migrations: Migrations) -> None:
        """Async form of :meth:`ensure_schema_sync`, run in the writer thread."""
        if component in self._schemas:
            return
        steps = [list(step) for step in migrations]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool(), self.ensure_schema_sync, component, steps)

    def close(self) -> None:
        """Close both connections and stop the writer thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._write_lock:  # not while a write_short() runs in another thread
            self._close_connections()

    def _close_connections(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None
        self.remove_temporary()

    def stats(self) -> dict[str, int]:
        """Open writer threads and write connections (0 or 1 each), for tests and diagnostics."""
        with self._lock:
            return {
                "writer_threads": int(self._executor is not None),
                "write_connections": int(self._writer is not None),
            }


def _statement(sql: str, params: Sequence[Any], conn: sqlite3.Connection) -> None:
    """``conn.execute(sql, params)`` with its cursor closed: :meth:`SQLiteDatabase.execute_short` in the thread."""
    conn.execute(sql, params).close()


@register_scheme("sqlite")
class SQLiteBackend(SQLiteDatabase, Backend):
    """The backend of ``sqlite:///path``: the file's one writer thread, one write connection and its readers."""

    def __init__(self, url: StoreURL) -> None:
        Backend.__init__(self, url)
        SQLiteDatabase.__init__(self, url.path, synchronous=_level(url))

    def joined(self, url: StoreURL) -> None:
        """Another opener of this file asks for ``url``'s level: FULL (the default) wins over NORMAL."""
        self.require_synchronous(_level(url))

    async def aclose(self) -> None:
        """Stop the writer thread and close the connections, in a worker thread (joining it would block the loop)."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Close at once for every holder (prefer :meth:`release`); idempotent."""
        self.forget()
        super().close()


def _level(url: StoreURL) -> Literal["FULL", "NORMAL"]:
    """The commit level a SQLite URL asks for: NORMAL only when it says ``?synchronous=normal``."""
    return "NORMAL" if url.synchronous == "NORMAL" else "FULL"


def open_sqlite(target: SQLiteDatabase | str | os.PathLike[str]) -> SQLiteDatabase:
    """A store's handle on a SQLite file: the shared backend of ``target`` with a reference taken for the store.

    ``target`` is a path, a backend (shared: one more reference) or a bare :class:`SQLiteDatabase` (borrowed:
    its creator closes it). Pair with :func:`release_sqlite`.
    """
    if isinstance(target, SQLiteBackend):
        return target.retain()
    if isinstance(target, SQLiteDatabase):
        return target
    raw = os.fspath(target)
    if not raw:
        raise ValueError("SQLite path is empty; give a file path or ':memory:'")
    backend = open_backend("sqlite:///" + raw, allowed=("sqlite",))
    assert isinstance(backend, SQLiteBackend)
    return backend


async def release_sqlite(db: SQLiteDatabase) -> None:
    """Give back a handle from :func:`open_sqlite` (a borrowed bare database is left open)."""
    if isinstance(db, SQLiteBackend):
        await db.release()
