"""PostgreSQL run store: admission is serialised per tenant by a transaction-scoped advisory lock."""

from __future__ import annotations

import json
import time
from typing import Any

from llmteam.backends.postgres import PostgresBackend, advisory_key, postgres_backend
from llmteam.team._errors import AdmissionRefused
from llmteam.team._records import RunRecord, TenantUsage, utc_day
from llmteam.team._store import RunStore
from llmteam.team._usage import Usage
from llmteam.team.stores._sql import GET, LIST, PAUSE, UNPAUSE, ddl, finish_args, tenant_usage, to_record, usage_rows


class PostgresRunStore(RunStore):
    """Run records in PostgreSQL; admission is serialised per tenant by a transaction-scoped advisory lock."""

    def __init__(self, pool: PostgresBackend | Any = None, *, dsn: str | None = None) -> None:
        if (pool is None) == (dsn is None):
            raise ValueError("PostgresRunStore needs exactly one of pool= or dsn=")
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False

    async def _get_pool(self) -> Any:
        return await self.backend.ensure_schema("team_runs", [ddl("DOUBLE PRECISION")])

    async def admit(self, record: RunRecord, *, max_concurrent: int, max_per_day: int, lease: float) -> None:
        pool = await self._get_pool()
        lock = advisory_key(f"llmteam-run:{record.tenant_id}")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
            now = time.time()  # under the tenant's lock: the run starts when it is admitted
            day = utc_day(now)
            running = await conn.fetchval(
                "SELECT COUNT(*) FROM team_runs WHERE tenant_id = $1 AND status = 'running' AND lease_until > $2",
                record.tenant_id, now,
            )
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", int(running), max_concurrent)
            today = await conn.fetchval(
                "SELECT runs FROM team_daily_runs WHERE tenant_id = $1 AND day = $2", record.tenant_id, day
            ) or 0
            if today >= max_per_day:
                raise AdmissionRefused("runs_per_day", int(today), max_per_day)
            await conn.execute(
                "INSERT INTO team_runs (run_id, tenant_id, team, status, started_at, lease_until, input_json) "
                "VALUES ($1, $2, $3, 'running', $4, $5, $6)",
                record.run_id, record.tenant_id, record.team, now, now + lease,
                json.dumps(record.input, sort_keys=True, default=str),
            )
            await conn.execute(
                "INSERT INTO team_daily_runs (tenant_id, day, runs) VALUES ($1, $2, 1) "
                "ON CONFLICT (tenant_id, day) DO UPDATE SET runs = team_daily_runs.runs + 1",
                record.tenant_id, day,
            )
        record.started_at = now

    async def finish(self, record: RunRecord) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE team_runs SET status = $1, finished_at = $2, output = $3, error = $4, steps = $5, "
                "prompt_tokens = $6, completion_tokens = $7, requests = $8, cost = $9 "
                "WHERE run_id = $10 AND tenant_id = $11",
                *finish_args(record),
            )
            rows = usage_rows(record)
            if rows:
                await conn.executemany("INSERT INTO team_run_usage VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", rows)

    async def pause(self, tenant_id: str, run_id: str) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            await conn.execute(PAUSE["dollar"], run_id, tenant_id)

    async def unpause(self, tenant_id: str, run_id: str, *, max_concurrent: int, lease: float) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(f"llmteam-run:{tenant_id}"))
            status = await conn.fetchval("SELECT status FROM team_runs WHERE run_id = $1 AND tenant_id = $2",
                                         run_id, tenant_id)
            if status != "paused":
                return
            now = time.time()
            running = await conn.fetchval(
                "SELECT COUNT(*) FROM team_runs WHERE tenant_id = $1 AND status = 'running' AND lease_until > $2",
                tenant_id, now,
            )
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", int(running), max_concurrent)
            await conn.execute(UNPAUSE["dollar"], now + lease, run_id, tenant_id)

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                GET["dollar"], run_id, tenant_id
            )
            if row is None:
                return None
            rows = await conn.fetch(
                "SELECT agent, prompt_tokens, completion_tokens, requests, cost FROM team_run_usage WHERE run_id = $1",
                run_id,
            )
        return to_record(tuple(row), {r[0]: Usage(int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows})

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        pool = await self._get_pool()
        rows = await pool.fetch(
            LIST["dollar"],
            tenant_id, int(limit), int(offset),
        )
        return [to_record(tuple(r)) for r in rows]

    async def usage(self, tenant_id: str) -> TenantUsage:
        pool = await self._get_pool()
        total = await pool.fetchrow(
            "SELECT SUM(prompt_tokens), SUM(completion_tokens), SUM(requests), SUM(cost), COUNT(*) FROM team_runs "
            "WHERE tenant_id = $1 AND status != 'running'",
            tenant_id,
        )
        rows = await pool.fetch(
            "SELECT agent, model, SUM(prompt_tokens), SUM(completion_tokens), SUM(requests), SUM(cost) "
            "FROM team_run_usage WHERE tenant_id = $1 GROUP BY agent, model ORDER BY agent, model",
            tenant_id,
        )
        return tenant_usage(tenant_id, int(total[4]), tuple(total), [tuple(r) for r in rows])

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await self.backend.release()
