"""PostgreSQL access through asyncpg, imported lazily (extra ``postgres``), with versioned, race-free schema setup.

Pools made by :func:`create_pool` survive a server restart on their own (asyncpg replaces a broken connection at
the next acquire); while the server is down or restarting, every failure to reach it surfaces as
:class:`StoreConnectionError` naming the server, never as a raw socket or driver error.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"


def import_asyncpg() -> Any:
    """Import asyncpg, or raise ``ImportError`` that says how to install it."""
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "PostgreSQL stores need the asyncpg package: pip install 'llmteam[postgres]'"
        ) from exc
    return asyncpg


class StoreConnectionError(ConnectionError):
    """A database server that cannot be reached, or that dropped the connection during an operation."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> Any:
    """Open an asyncpg pool to ``dsn``; a server that does not answer raises StoreConnectionError naming it.

    The pool is wrapped so that connection failures of later operations raise StoreConnectionError too.
    """
    asyncpg = import_asyncpg()
    try:
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=timeout)
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

    def __init__(self, inner: Any, dsn: str) -> None:
        self._inner, self._dsn = inner, dsn

    async def __aenter__(self) -> Any:
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

    _QUERIES = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval"})

    def __init__(self, pool: Any, dsn: str) -> None:
        self.pool, self._dsn = pool, dsn

    def acquire(self, *, timeout: float | None = None) -> _Acquire:
        return _Acquire(self.pool.acquire(timeout=timeout), self._dsn)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.pool, name)
        if name not in self._QUERIES:
            return attr
        return self._translated(attr)

    def _translated(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except connection_errors() as exc:
                raise _lost(self._dsn, exc) from exc

        return call


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


async def ensure_schema(pool: Any, component: str, version: int, statements: Iterable[str]) -> None:
    """Run ``statements`` once per component version, serialised across processes by an advisory lock."""
    stmts = list(statements)
    lock_key = zlib.crc32(f"llmteam-schema:{component}".encode())
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
        await conn.execute(SCHEMA_TABLE)
        current = await conn.fetchval("SELECT version FROM schema_version WHERE component = $1", component)
        if current is not None and current > version:
            raise RuntimeError(
                f"database holds {component} schema v{current}, newer than this llmteam (v{version}); upgrade llmteam"
            )
        for stmt in stmts:
            await conn.execute(stmt)
        await conn.execute(
            "INSERT INTO schema_version(component, version) VALUES ($1, $2) "
            "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
            component,
            version,
        )
