"""API keys in PostgreSQL (table ``api_keys``); asyncpg is imported at first use."""

from __future__ import annotations

from typing import Any

from llmteam._backends.postgres import create_pool, ensure_schema, import_asyncpg
from llmteam.server._keys import ApiKey
from llmteam.server.stores._base import SQL, KeyExistsError, KeyStore, ddl, key_to_row, row_to_key

SCHEMA_VERSION = 1
_SQL = SQL["dollar"]


class PostgresKeyStore(KeyStore):
    """Keys in PostgreSQL; give a pool (shared, not closed here) or a DSN (own pool, closed by ``close``)."""

    def __init__(self, pool: Any = None, *, dsn: str | None = None) -> None:
        if (pool is None) == (dsn is None):
            raise ValueError("PostgresKeyStore needs exactly one of pool= or dsn=")
        self._pool, self._dsn, self._owns, self._ready = pool, dsn, pool is None, False

    async def _get_pool(self) -> Any:
        if self._pool is None:
            assert self._dsn is not None
            self._pool = await create_pool(self._dsn)
        if not self._ready:
            await ensure_schema(self._pool, "api_keys", SCHEMA_VERSION, ddl("DOUBLE PRECISION"))
            self._ready = True
        return self._pool

    async def add(self, key: ApiKey) -> None:
        pool = await self._get_pool()
        try:
            await pool.execute(_SQL["insert"], *key_to_row(key))
        except import_asyncpg().UniqueViolationError:
            raise KeyExistsError(f"API key id {key.key_id!r} already exists") from None

    async def get(self, key_id: str) -> ApiKey | None:
        pool = await self._get_pool()
        row = await pool.fetchrow(_SQL["get"], key_id)
        return None if row is None else row_to_key(tuple(row))

    async def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        pool = await self._get_pool()
        rows = await pool.fetch(_SQL["list"], tenant_id)
        return [row_to_key(tuple(r)) for r in rows]

    async def revoke(self, key_id: str, at: float) -> ApiKey | None:
        pool = await self._get_pool()
        await pool.execute(_SQL["revoke"], at, key_id)
        return await self.get(key_id)

    async def ping(self) -> None:
        pool = await self._get_pool()
        await pool.fetchval("SELECT 1")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._owns:
            await pool.close()
