"""PostgreSQL run store: admission is serialised per tenant by a transaction-scoped advisory lock."""

from __future__ import annotations

import time

from llmteam.backends.postgres import PgPool, PostgresBackend, advisory_key, postgres_backend
from llmteam.team._errors import AdmissionRefused
from llmteam.team._records import RunRecord, TenantUsage, utc_day
from llmteam.team._store import RunStore, not_running, taken
from llmteam.team.stores import _sql

SQL = _sql.DOLLAR


class PostgresRunStore(RunStore):
    """Run records in PostgreSQL; admission is serialised per tenant by a transaction-scoped advisory lock.

    ``pool`` is the URL's shared :class:`~llmteam.backends.PostgresBackend` or an asyncpg pool the caller owns.
    """

    def __init__(self, pool: PostgresBackend | PgPool | None = None, *, dsn: str | None = None) -> None:
        if (pool is None) == (dsn is None):
            raise ValueError("PostgresRunStore needs exactly one of pool= or dsn=")
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False

    async def _get_pool(self) -> PgPool:
        return await self.backend.ensure_schema(_sql.COMPONENT, _sql.migrations("DOUBLE PRECISION"))

    async def admit(self, record: RunRecord, *, max_concurrent: int, max_per_day: int, lease: float) -> None:
        pool = await self._get_pool()
        lock = advisory_key(f"llmteam-run:{record.tenant_id}")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
            now = time.time()  # under the tenant's lock: the run starts when it is admitted
            day = utc_day(now)
            running = int(await conn.fetchval(SQL.running, record.tenant_id, now))
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", running, max_concurrent)
            today = int(await conn.fetchval(SQL.today, record.tenant_id, day) or 0)
            if today >= max_per_day:
                raise AdmissionRefused("runs_per_day", today, max_per_day)
            if await conn.fetchval(SQL.taken, record.run_id) is not None:
                raise taken(record)
            await conn.execute(SQL.admit, *_sql.admit_args(record, now, lease))
            await conn.execute(SQL.count_day, record.tenant_id, day)
        record.started_at = now

    async def finish(self, record: RunRecord) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            if await conn.execute(SQL.finish, *_sql.finish_args(record)) != "UPDATE 1":
                raise not_running(record)
            rows = _sql.usage_rows(record)
            if rows:
                await conn.executemany(SQL.insert_agent, rows)

    async def pause(self, tenant_id: str, run_id: str) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            await conn.execute(SQL.pause, run_id, tenant_id)

    async def unpause(self, tenant_id: str, run_id: str, *, max_concurrent: int, lease: float) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(f"llmteam-run:{tenant_id}"))
            status = await conn.fetchval(SQL.status,
                                         run_id, tenant_id)
            if status != "paused":
                return
            now = time.time()
            running = await conn.fetchval(
                SQL.running,
                tenant_id, now,
            )
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", int(running), max_concurrent)
            await conn.execute(SQL.unpause, now + lease, run_id, tenant_id)

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(SQL.get, run_id, tenant_id)
            if row is None:
                return None
            agents = await conn.fetch(SQL.agents, run_id, tenant_id)
        return _sql.to_record(tuple(row), [tuple(a) for a in agents])

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        pool = await self._get_pool()
        rows = await pool.fetch(SQL.list, tenant_id, int(limit), int(offset))
        return [_sql.to_record(tuple(r)) for r in rows]

    async def usage(self, tenant_id: str) -> TenantUsage:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            (total,) = await conn.fetch(SQL.total, tenant_id)  # an aggregate without GROUP BY: one row
            rows = await conn.fetch(SQL.by_agent, tenant_id)
        return _sql.tenant_usage(tenant_id, tuple(total), [tuple(r) for r in rows])

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await self.backend.release()
