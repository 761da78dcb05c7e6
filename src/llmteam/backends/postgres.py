"""PostgreSQL through asyncpg (imported lazily, extra ``postgres``): the one pool per URL and versioned migrations.

:class:`PostgresBackend` is what ``open_backend("postgresql://...")`` returns: it creates its asyncpg pool once,
under a lock, at first use (concurrent first uses open one pool), and every store on the URL borrows
connections from it. The pool skips asyncpg's per-release session reset (a round trip per query): llmteam's
stores never leave session state behind (no ``SET``, no ``LISTEN``, only transaction-scoped advisory locks).

A backend that opened its pool also keeps one of the pool's connections, its :class:`HeldConnection`, for
single statements that are their own transaction (:meth:`PostgresBackend.execute`: a lone durable audit append):
leasing a connection per statement (``Pool.execute``) costs a task and a timer per call. One caller uses it at a
time (a caller that finds it busy runs on the pool); a broken connection is handed back and replaced at the next
statement; it goes back to the pool every 1,000 statements or 60 seconds, so the pool's limits (``max_queries``)
apply to it too; closing the backend hands it back before the pool closes.

Pools made by :func:`create_pool` survive a server restart on their own (asyncpg replaces a broken connection at
the next acquire); while the server is down or restarting, every failure to reach it surfaces as
:class:`~llmteam.StoreConnectionError` naming the server, never as a raw socket or driver error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from llmteam._exceptions import StoreConnectionError
from llmteam.backends._base import Backend, open_backend, pending_steps, register_scheme
from llmteam.backends._pg_types import PgAcquire, PgConnection, PgPool, PgRecord
from llmteam.backends.url import StoreURL

__all__ = [
    "HeldConnection", "PgConnection", "PgPool", "PgRecord", "PostgresBackend", "ServerPool", "StoreConnectionError",
    "advisory_key", "connection_errors", "create_pool", "ensure_schema", "import_asyncpg", "postgres_backend", "redact",
]

SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
Migrations = Sequence[Sequence[str]]  # step 1 first; each step a list of statements


def import_asyncpg() -> Any:
    """Import asyncpg, or raise ``ImportError`` that says how to install it."""
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "PostgreSQL stores need the asyncpg package: pip install 'llmteam[postgres]'"
        ) from exc
    return asyncpg


async def _keep_session(conn: Any) -> None:
    """Pool ``reset`` hook: nothing to reset, the stores leave no session state (see the module docstring)."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> ServerPool:
    """Open an asyncpg pool to ``dsn``; a server that does not answer raises StoreConnectionError naming it.

    The pool is wrapped so that connection failures of later operations raise StoreConnectionError too.
    """
    asyncpg = import_asyncpg()
    try:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, timeout=timeout, reset=_keep_session
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        safe = _redact(dsn)
        raise StoreConnectionError(f"cannot connect to PostgreSQL at {safe}: {exc}; is the server running?") from exc
    return ServerPool(pool, dsn)


def _lost(dsn: str, exc: BaseException) -> StoreConnectionError:
    return StoreConnectionError(
        f"PostgreSQL at {_redact(dsn)} is unreachable or dropped the connection ({type(exc).__name__}: {exc}); "
        "the operation was not acknowledged: retry once the server answers (the pool reconnects on its own)"
    )


class _Acquire:
    """``async with pool.acquire() as conn``, with connection failures (entering, inside, leaving) translated."""

    def __init__(self, inner: PgAcquire, dsn: str) -> None:
        self._inner, self._dsn = inner, dsn

    async def __aenter__(self) -> PgConnection:
        try:
            return await self._inner.__aenter__()
        except connection_errors() as exc:
            raise _lost(self._dsn, exc) from exc

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        try:
            suppressed = bool(await self._inner.__aexit__(exc_type, exc, tb))
        except connection_errors() as err:
            raise _lost(self._dsn, err) from err
        if exc is not None and not suppressed and isinstance(exc, connection_errors()):
            if not isinstance(exc, StoreConnectionError):
                raise _lost(self._dsn, exc) from exc
        return suppressed


class ServerPool:
    """An asyncpg pool whose connection failures raise :class:`StoreConnectionError` (see the module docstring)."""

    def __init__(self, pool: PgPool, dsn: str) -> None:
        self.pool, self._dsn = pool, dsn

    @property
    def dsn(self) -> str:
        """The server's address (with any password: redact it before showing it)."""
        return self._dsn

    def acquire(self, *, timeout: float | None = None) -> _Acquire:
        return _Acquire(self.pool.acquire(timeout=timeout), self._dsn)

    async def close(self) -> None:
        await self.pool.close()

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:
        try:
            return await self.pool.execute(query, *args, timeout=timeout)
        except connection_errors() as exc:
            raise _lost(self._dsn, exc) from exc

    async def executemany(self, command: str, args: Iterable[Sequence[object]], *,
                          timeout: float | None = None) -> None:
        try:
            await self.pool.executemany(command, args, timeout=timeout)
        except connection_errors() as exc:
            raise _lost(self._dsn, exc) from exc

    async def fetch(self, query: str, *args: object, timeout: float | None = None) -> list[PgRecord]:
        try:
            return await self.pool.fetch(query, *args, timeout=timeout)
        except connection_errors() as exc:
            raise _lost(self._dsn, exc) from exc

    async def fetchrow(self, query: str, *args: object, timeout: float | None = None) -> PgRecord | None:
        try:
            return await self.pool.fetchrow(query, *args, timeout=timeout)
        except connection_errors() as exc:
            raise _lost(self._dsn, exc) from exc

    async def fetchval(self, query: str, *args: object, column: int = 0, timeout: float | None = None) -> Any:
        try:
            return await self.pool.fetchval(query, *args, column=column, timeout=timeout)
        except connection_errors() as exc:
            raise _lost(self._dsn, exc) from exc


class HeldConnection:
    """One connection of a pool kept for single statements, each its own (autocommit) transaction.

    :meth:`execute` runs on it when it is free; a caller that finds it busy, or a holder being closed, runs on
    the pool, so statements never interleave on one connection. Before each statement the connection is checked
    (still ours, open, outside any transaction: a statement here is committed when it returns). A connection that
    is not, or that broke under its statement, is terminated; one whose statement was cancelled goes back to the
    pool (which cancels the statement on the server and resets it); the next statement leases a fresh one.
    :meth:`close` hands it back (after the statement in flight, if any), so ``Pool.close()`` never waits on it.

    It also goes back to the pool after every :attr:`LEASE_STATEMENTS` statements or once it has been held for
    :attr:`LEASE_SECONDS`, so the pool's own limits apply to it too (asyncpg closes a connection that ran
    ``max_queries`` when it comes back); giving it back costs no round trip (the pool's reset is a no-op).
    """

    LEASE_STATEMENTS = 1000
    LEASE_SECONDS = 60.0

    def __init__(self, pool: ServerPool) -> None:
        self._pool = pool
        self._asyncpg = import_asyncpg()
        self._lease: _Acquire | None = None
        self._conn: PgConnection | None = None
        self._busy = False
        self._closing = False
        self._statements = 0  # run on the current lease
        self._leased_at = 0.0

    async def execute(self, query: str, *args: object) -> str:
        """Run one statement as its own transaction; durable (committed) when it returns."""
        if self._busy or self._closing:
            return await self._pool.execute(query, *args)
        self._busy = True
        try:
            conn = self._conn
            if conn is None or not self._usable(conn):
                self._drop()
                lease = self._pool.acquire()
                self._conn = conn = await lease.__aenter__()
                self._lease, self._statements, self._leased_at = lease, 0, time.monotonic()
            try:
                return await conn.execute(query, *args)
            except connection_errors() as exc:
                self._drop()
                raise _lost(self._pool.dsn, exc) from exc
            except self._asyncpg.PostgresError:
                raise  # the server refused the statement (rolled back): the connection is fine
            except BaseException:
                await self._hand_back()  # cancelled mid-statement: the pool cancels it on the server and resets
                raise
        finally:
            self._busy = False
            self._statements += 1
            if self._closing or self._statements >= self.LEASE_STATEMENTS or (
                time.monotonic() - self._leased_at >= self.LEASE_SECONDS
            ):
                await self._hand_back()

    def _usable(self, conn: PgConnection) -> bool:
        try:
            return not conn.is_closed() and not conn.is_in_transaction()
        except self._asyncpg.InterfaceError:  # the pool took it back when its connection closed
            return False

    def _drop(self) -> None:
        """Terminate the held connection: the pool replaces it at its next lease (no I/O, never waits)."""
        conn, self._conn, self._lease = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(self._asyncpg.InterfaceError):  # already taken back by the pool
                conn.terminate()

    async def _hand_back(self) -> None:
        """Return the held connection to the pool, which resets it (or terminates it if it broke meanwhile)."""
        lease, self._lease, self._conn = self._lease, None, None
        if lease is not None:
            with contextlib.suppress(StoreConnectionError):  # broken: the pool has terminated it
                await lease.__aexit__(None, None, None)

    async def close(self) -> None:
        """Hand the connection back to the pool now, or when the statement in flight ends; idempotent."""
        self._closing = True
        if not self._busy:
            await self._hand_back()


def connection_errors() -> tuple[type[BaseException], ...]:
    """Errors meaning the server is unreachable or the connection broke (a write in flight may or may not have
    committed): refused or reset sockets, timeouts, a closed connection, an administrator shutdown."""
    asyncpg = import_asyncpg()
    return (
        OSError,  # includes ConnectionError, raised by create_pool() above
        TimeoutError,
        asyncpg.InterfaceError,  # "the underlying connection is closed"
        asyncpg.PostgresConnectionError,  # "connection was closed in the middle of operation"
        asyncpg.CannotConnectNowError,  # the server is starting up or shutting down
        asyncpg.AdminShutdownError,  # the server was stopped under the connection
        asyncpg.InternalClientError,  # the connection's protocol is stuck (e.g. the server's goodbye half-read)
    )


def redact(dsn: str) -> str:
    """The DSN with any password replaced, for error messages."""
    return _redact(dsn)


def _redact(dsn: str) -> str:
    """The DSN with any password replaced, for error messages."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else dsn


def advisory_key(text: str) -> int:
    """A stable 32-bit key for ``pg_advisory_xact_lock`` derived from ``text``."""
    return zlib.crc32(text.encode())


async def ensure_schema(pool: PgPool, component: str, migrations: Migrations) -> None:
    """Apply ``component``'s steps newer than its ``schema_version`` row, in one transaction, once across processes.

    ``migrations[0]`` is step 1; the row records the last step applied. An advisory lock serialises processes
    migrating the same component.
    """
    steps = [list(step) for step in migrations]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(f"llmteam-schema:{component}"))
        await conn.execute(SCHEMA_TABLE)
        current = await conn.fetchval("SELECT version FROM schema_version WHERE component = $1", component) or 0
        for number, step in pending_steps("database", component, current, steps):
            for stmt in step:
                await conn.execute(stmt)
            await conn.execute(
                "INSERT INTO schema_version(component, version) VALUES ($1, $2) "
                "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
                component,
                number,
            )


@register_scheme("postgresql")
class PostgresBackend(Backend):
    """The backend of ``postgresql://...``: one asyncpg pool, opened at first use, shared by every store."""

    loop_bound = True

    def __init__(self, url: StoreURL, *, pool: PgPool | None = None) -> None:
        super().__init__(url)
        self._pool = pool
        self._owns_pool = pool is None
        self._lock: asyncio.Lock | None = None
        self._schemas: set[str] = set()
        self._held: HeldConnection | None = None  # only over a pool of our own: a borrowed one is closed by its owner
        self.pools_opened = 0

    @classmethod
    def borrow(cls, pool: PgPool) -> PostgresBackend:
        """A backend over a pool the caller owns (and closes); releasing it leaves the pool open."""
        return cls(StoreURL("postgresql", "postgresql://(borrowed pool)"), pool=pool).retain()

    @property
    def connected(self) -> bool:
        """Has the pool been created (and not closed)?"""
        return self._pool is not None

    async def pool(self) -> PgPool:
        """The asyncpg pool, created once (under a lock, so concurrent first calls share it)."""
        if self._pool is not None:
            return self._pool
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._released:
                raise RuntimeError(f"backend for {self.url.redacted} is closed; open it again")
            if self._pool is None:
                pool = await create_pool(self.url.dsn)
                self._held = HeldConnection(pool)
                self._pool = pool
                self.pools_opened += 1
        return self._pool

    async def execute(self, query: str, *args: object) -> str:
        """Run one statement as its own transaction (committed when this returns), on the held connection when
        it is free (see :class:`HeldConnection`), else on the pool."""
        held = self._held
        if held is None:
            pool = await self.pool()  # opening a pool of its own gives the backend its held connection
            held = self._held
            if held is None:  # a borrowed pool is never held
                return await pool.execute(query, *args)
        return await held.execute(query, *args)

    async def ensure_schema(self, component: str, migrations: Migrations) -> PgPool:
        """Migrate ``component`` once per backend (see :func:`ensure_schema`); returns the pool."""
        pool = await self.pool()
        if component not in self._schemas:
            await ensure_schema(pool, component, migrations)
            self._schemas.add(component)
        return pool

    async def aclose(self) -> None:
        """Close the pool if this backend opened it (a borrowed pool is left to its owner).

        The held connection goes back to the pool first (after the statement in flight, if any), so the pool's
        close does not wait for it."""
        pool, self._pool, held, self._held = self._pool, None, self._held, None
        if held is not None:
            await held.close()
        if pool is not None and self._owns_pool:
            await pool.close()


def postgres_backend(pool: PostgresBackend | PgPool | None = None, dsn: str | None = None) -> PostgresBackend:
    """A store's handle on PostgreSQL, with a reference taken for the store (release it in ``close()``).

    ``pool`` is a :class:`PostgresBackend` (shared) or an asyncpg pool the caller owns (borrowed); without
    one, ``dsn`` opens the process's shared backend for that URL.
    """
    if isinstance(pool, PostgresBackend):
        return pool.retain()
    if pool is not None:
        return PostgresBackend.borrow(pool)
    if not dsn:
        raise ValueError("give an asyncpg pool, a PostgresBackend or a dsn such as postgresql://user@host/db")
    backend = open_backend(dsn, allowed=("postgresql",))
    assert isinstance(backend, PostgresBackend)
    return backend
