"""PostgreSQL access through asyncpg, imported lazily (extra ``postgres``), with versioned, race-free schema setup."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
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


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> Any:
    """Open an asyncpg pool to ``dsn``; a server that does not answer raises ``ConnectionError`` naming it."""
    asyncpg = import_asyncpg()
    try:
        return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        safe = _redact(dsn)
        raise ConnectionError(f"cannot connect to PostgreSQL at {safe}: {exc}; is the server running?") from exc


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
