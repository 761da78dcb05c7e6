"""PostgreSQL process-event log on the URL's shared pool (asyncpg, imported lazily; bound parameters only)."""
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable

from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.postgres import PgPool, PostgresBackend, postgres_backend
from llmteam.roles._event_log import DEFAULT_TABLE, Cursor, EventFilter, EventLogBase, Row, rows_of
from llmteam.roles._models import ProcessEvent
from llmteam.roles.stores._sql import COLUMNS, to_page, where_clause


class PostgresEventLog(EventLogBase):
    """The shared log in PostgreSQL (asyncpg, imported lazily); give a ``pool`` or a ``dsn``."""

    def __init__(
        self, *, pool: PostgresBackend | PgPool | None = None, dsn: str | None = None, table_name: str = DEFAULT_TABLE
    ) -> None:
        if pool is None and dsn is None:
            raise ValueError("PostgresEventLog needs pool= (an asyncpg pool) or dsn= (a postgresql:// URL)")
        self.table = validate_identifier(table_name, "event log table name", suffixes=("_case_order",))
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False

    async def _acquire_pool(self) -> PgPool:
        t = self.table
        return await self.backend.ensure_schema(f"roles.event_log.{t}", [[
            f"CREATE TABLE IF NOT EXISTS {t} (seq BIGSERIAL PRIMARY KEY, "
            'tenant_id TEXT COLLATE "C" NOT NULL, case_id TEXT COLLATE "C" NOT NULL, '
            " event_id TEXT NOT NULL, ts_us BIGINT NOT NULL, ts_text TEXT NOT NULL, "
            "activity TEXT NOT NULL, resource TEXT NOT NULL, lifecycle TEXT NOT NULL, "
            "duration_ms BIGINT NOT NULL, cost DOUBLE PRECISION NOT NULL, attributes JSON NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {t}_case_order ON {t} (tenant_id, case_id, ts_us, seq)",
        ]])

    async def append_many(self, events: Iterable[ProcessEvent], *, tenant_id: str = "") -> int:
        """Store ``events`` in one transaction (validated first: all or nothing)."""
        rows = rows_of(events, tenant_id)
        if not rows:
            return 0
        pool = await self._acquire_pool()
        marks = ", ".join(f"${i}" for i in range(1, 12))
        sql = f"INSERT INTO {self.table} ({COLUMNS}) VALUES ({marks})"
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(sql, rows)
        return len(rows)

    async def fetch_page(self, where: EventFilter, after: Cursor | None, limit: int) -> list[tuple[Cursor, Row]]:
        """A page in (tenant, case, time, seq) order."""
        pool = await self._acquire_pool()
        clause, params = where_clause(where, after, lambda i: f"${i}")
        sql = (
            f"SELECT seq, {COLUMNS} FROM {self.table}{clause} "
            f"ORDER BY tenant_id, case_id, ts_us, seq LIMIT ${len(params) + 1}"
        )
        async with pool.acquire() as conn:
            rows = await conn.fetch(sql, *params, limit)
        return to_page(rows)

    async def count(self, *, tenant_id: str | None = None, case_id: str | None = None) -> int:
        """How many events match."""
        pool = await self._acquire_pool()
        clause, params = where_clause(EventFilter(tenant_id, case_id), None, lambda i: f"${i}")
        async with pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT COUNT(*) FROM {self.table}{clause}", *params))

    async def close(self) -> None:
        """Release this log's share of the backend (the last holder closes the pool); idempotent."""
        if not self._released:
            self._released = True
            await self.backend.release()
