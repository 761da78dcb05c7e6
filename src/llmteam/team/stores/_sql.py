"""SQLite and PostgreSQL run stores (tables ``team_runs``, ``team_run_usage``, ``team_daily_runs``)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from llmteam.backends import Backend, SQLiteBackend, backend_of
from llmteam.backends.postgres import PostgresBackend, advisory_key, postgres_backend
from llmteam.backends.sqlite import SQLiteDatabase, open_sqlite, release_sqlite
from llmteam.team._errors import AdmissionRefused
from llmteam.team._records import RunRecord, TenantUsage, utc_day
from llmteam.team._store import MemoryRunStore
from llmteam.team._usage import Usage

SCHEMA_VERSION = 1
_SELECT_RUN = (
    "SELECT run_id, tenant_id, team, status, started_at, finished_at, input_json, output, error, steps, "
    "prompt_tokens, completion_tokens, requests, cost FROM team_runs "
)
_GET = {
    "qmark": _SELECT_RUN + "WHERE run_id = ? AND tenant_id = ?",
    "dollar": _SELECT_RUN + "WHERE run_id = $1 AND tenant_id = $2",
}
_LIST = {
    "qmark": _SELECT_RUN + "WHERE tenant_id = ? ORDER BY started_at DESC LIMIT ? OFFSET ?",
    "dollar": _SELECT_RUN + "WHERE tenant_id = $1 ORDER BY started_at DESC LIMIT $2 OFFSET $3",
}


def _ddl(real: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS team_runs (run_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, team TEXT NOT NULL, "
        f"status TEXT NOT NULL, started_at {real} NOT NULL, lease_until {real} NOT NULL, finished_at {real}, "
        "input_json TEXT NOT NULL, output TEXT, error TEXT, steps INTEGER NOT NULL DEFAULT 0, "
        "prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0, "
        f"requests BIGINT NOT NULL DEFAULT 0, cost {real} NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS team_runs_tenant_status ON team_runs (tenant_id, status)",
        "CREATE INDEX IF NOT EXISTS team_runs_tenant_started ON team_runs (tenant_id, started_at)",
        "CREATE TABLE IF NOT EXISTS team_run_usage (run_id TEXT NOT NULL, tenant_id TEXT NOT NULL, "
        "agent TEXT NOT NULL, model TEXT NOT NULL, prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, "
        f"requests BIGINT NOT NULL, cost {real} NOT NULL, PRIMARY KEY (run_id, agent))",
        "CREATE INDEX IF NOT EXISTS team_run_usage_tenant ON team_run_usage (tenant_id)",
        "CREATE TABLE IF NOT EXISTS team_daily_runs (tenant_id TEXT NOT NULL, day TEXT NOT NULL, "
        "runs INTEGER NOT NULL, PRIMARY KEY (tenant_id, day))",
    ]


def _record(row: Sequence[Any], by_agent: dict[str, Usage] | None = None) -> RunRecord:
    return RunRecord(
        run_id=row[0], tenant_id=row[1], team=row[2], status=row[3], started_at=float(row[4]),
        finished_at=None if row[5] is None else float(row[5]), input=json.loads(row[6]), output=row[7],
        error=row[8], steps=int(row[9]), usage=Usage(int(row[10]), int(row[11]), int(row[12]), float(row[13])),
        usage_by_agent=by_agent or {},
    )


def _usage_rows(record: RunRecord) -> list[tuple[Any, ...]]:
    return [
        (record.run_id, record.tenant_id, agent, record.models.get(agent, ""), u.prompt_tokens, u.completion_tokens,
         u.requests, u.cost)
        for agent, u in record.usage_by_agent.items()
    ]


def _finish_args(record: RunRecord) -> tuple[Any, ...]:
    u = record.usage
    return (record.status, record.finished_at or time.time(), record.output, record.error, record.steps,
            u.prompt_tokens, u.completion_tokens, u.requests, u.cost, record.run_id, record.tenant_id)


def _tenant_usage(tenant_id: str, runs: int, total: Sequence[Any], rows: Sequence[Sequence[Any]]) -> TenantUsage:
    out = TenantUsage(tenant_id, runs, Usage(int(total[0] or 0), int(total[1] or 0), int(total[2] or 0),
                                             float(total[3] or 0.0)))
    for agent, model, p, c, r, cost in rows:
        u = Usage(int(p), int(c), int(r), float(cost))
        out.by_agent.setdefault(agent, Usage()).add(u)
        out.by_model.setdefault(model, Usage()).add(u)
    return out


class SQLiteRunStore:
    """Run records in a SQLite file (shared with the other stores of ``sqlite:///...``), durable on return."""

    def __init__(self, db: SQLiteDatabase | str) -> None:
        self.db = open_sqlite(db)  # the file's shared backend: one writer thread whatever stores are open
        self._released = False

    async def _ready(self) -> None:
        await self.db.ensure_schema("team_runs", [_ddl("REAL")])

    async def admit(self, record: RunRecord, *, max_concurrent: int, max_per_day: int, lease: float) -> None:
        await self._ready()
        payload = json.dumps(record.input, sort_keys=True, default=str)

        def txn(conn: sqlite3.Connection) -> float:
            now = time.time()  # under the write lock: the run starts when it is admitted
            day = utc_day(now)
            running = conn.execute(
                "SELECT COUNT(*) FROM team_runs WHERE tenant_id = ? AND status = 'running' AND lease_until > ?",
                (record.tenant_id, now),
            ).fetchone()[0]
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", running, max_concurrent)
            row = conn.execute(
                "SELECT runs FROM team_daily_runs WHERE tenant_id = ? AND day = ?", (record.tenant_id, day)
            ).fetchone()
            today = row[0] if row else 0
            if today >= max_per_day:
                raise AdmissionRefused("runs_per_day", today, max_per_day)
            conn.execute(
                "INSERT INTO team_runs (run_id, tenant_id, team, status, started_at, lease_until, input_json) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (record.run_id, record.tenant_id, record.team, now, now + lease, payload),
            )
            conn.execute(
                "INSERT INTO team_daily_runs (tenant_id, day, runs) VALUES (?, ?, 1) "
                "ON CONFLICT (tenant_id, day) DO UPDATE SET runs = runs + 1",
                (record.tenant_id, day),
            )
            return now

        record.started_at = await self.db.write(txn)

    async def finish(self, record: RunRecord) -> None:
        await self._ready()

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE team_runs SET status = ?, finished_at = ?, output = ?, error = ?, steps = ?, "
                "prompt_tokens = ?, completion_tokens = ?, requests = ?, cost = ? WHERE run_id = ? AND tenant_id = ?",
                _finish_args(record),
            )
            conn.executemany("INSERT INTO team_run_usage VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _usage_rows(record))

        await self.db.write(txn)

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        await self._ready()

        def read(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(
                _GET["qmark"], (run_id, tenant_id)
            ).fetchone()
            if row is None:
                return None
            rows = conn.execute(
                "SELECT agent, prompt_tokens, completion_tokens, requests, cost FROM team_run_usage WHERE run_id = ?",
                (run_id,),
            ).fetchall()
            return _record(row, {a: Usage(p, c, r, cost) for a, p, c, r, cost in rows})

        return await self.db.read(read)

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        await self._ready()
        rows = await self.db.read_in_thread(
            lambda conn: conn.execute(
                _LIST["qmark"],
                (tenant_id, int(limit), int(offset)),
            ).fetchall()
        )
        return [_record(r) for r in rows]

    async def usage(self, tenant_id: str) -> TenantUsage:
        await self._ready()

        def read(conn: sqlite3.Connection) -> TenantUsage:
            total = conn.execute(
                "SELECT SUM(prompt_tokens), SUM(completion_tokens), SUM(requests), SUM(cost), COUNT(*) FROM team_runs "
                "WHERE tenant_id = ? AND status != 'running'",
                (tenant_id,),
            ).fetchone()
            rows = conn.execute(
                "SELECT agent, model, SUM(prompt_tokens), SUM(completion_tokens), SUM(requests), SUM(cost) "
                "FROM team_run_usage WHERE tenant_id = ? GROUP BY agent, model ORDER BY agent, model",
                (tenant_id,),
            ).fetchall()
            return _tenant_usage(tenant_id, int(total[4]), total, rows)

        return await self.db.read_in_thread(read)

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await release_sqlite(self.db)


class PostgresRunStore:
    """Run records in PostgreSQL; admission is serialised per tenant by a transaction-scoped advisory lock."""

    def __init__(self, pool: PostgresBackend | Any = None, *, dsn: str | None = None) -> None:
        if (pool is None) == (dsn is None):
            raise ValueError("PostgresRunStore needs exactly one of pool= or dsn=")
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False

    async def _get_pool(self) -> Any:
        return await self.backend.ensure_schema("team_runs", [_ddl("DOUBLE PRECISION")])

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
                *_finish_args(record),
            )
            rows = _usage_rows(record)
            if rows:
                await conn.executemany("INSERT INTO team_run_usage VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", rows)

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                _GET["dollar"], run_id, tenant_id
            )
            if row is None:
                return None
            rows = await conn.fetch(
                "SELECT agent, prompt_tokens, completion_tokens, requests, cost FROM team_run_usage WHERE run_id = $1",
                run_id,
            )
        return _record(tuple(row), {r[0]: Usage(int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows})

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        pool = await self._get_pool()
        rows = await pool.fetch(
            _LIST["dollar"],
            tenant_id, int(limit), int(offset),
        )
        return [_record(tuple(r)) for r in rows]

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
        return _tenant_usage(tenant_id, int(total[4]), tuple(total), [tuple(r) for r in rows])

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await self.backend.release()


def open_run_store(url: str | Backend) -> MemoryRunStore | SQLiteRunStore | PostgresRunStore:
    """The run store on ``url`` or on an open backend (sharing it); connects at first use."""
    backend = backend_of(url, ("memory", "sqlite", "postgresql"))
    try:
        if isinstance(backend, SQLiteBackend):
            return SQLiteRunStore(backend)
        if isinstance(backend, PostgresBackend):
            return PostgresRunStore(backend)
        return MemoryRunStore()
    finally:
        backend.handoff()
