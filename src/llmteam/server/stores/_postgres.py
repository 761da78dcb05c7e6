"""API keys in PostgreSQL (table ``api_keys``); asyncpg is imported at first use."""

from __future__ import annotations

from llmteam.backends.postgres import PgPool, PostgresBackend, import_asyncpg, postgres_backend
from llmteam.server._keys import ApiKey
from llmteam.server._store import KeyExistsError, KeyStore
from llmteam.server.stores._sql import SQL, ddl, key_to_row, row_to_key

_SQL = SQL["dollar"]


class PostgresKeyStore(KeyStore):
    """Keys in PostgreSQL; give a backend or asyncpg pool (shared, not closed here) or a DSN (the URL's backend)."""

    def __init__(self, pool: PostgresBackend | PgPool | None = None, *, dsn: str | None = None) -> None:
        if (pool is None) == (dsn is None):
            raise ValueError("PostgresKeyStore needs exactly one of pool= or dsn=")
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False

    async def _get_pool(self) -> PgPool:
        return await self.backend.ensure_schema("api_keys", [ddl("DOUBLE PRECISION")])

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
        if not self._released:
            self._released = True
            await self.backend.release()
