"""SQLite run store: admission counts and inserts in one ``BEGIN IMMEDIATE`` transaction on the file's backend."""

from __future__ import annotations

import json
import sqlite3
import time

from llmteam.backends.sqlite import SQLiteDatabase, open_sqlite, release_sqlite
from llmteam.team._errors import AdmissionRefused
from llmteam.team._records import RunRecord, TenantUsage, utc_day
from llmteam.team._store import RunStore
from llmteam.team._usage import Usage
from llmteam.team.stores._sql import GET, LIST, PAUSE, UNPAUSE, ddl, finish_args, tenant_usage, to_record, usage_rows


class SQLiteRunStore(RunStore):
    """Run records in a SQLite file (shared with the other stores of ``sqlite:///...``), durable on return."""

    def __init__(self, db: SQLiteDatabase | str) -> None:
        self.db = open_sqlite(db)  # the file's shared backend: one writer thread whatever stores are open
        self._released = False

    async def _ready(self) -> None:
        await self.db.ensure_schema("team_runs", [ddl("REAL")])

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
                finish_args(record),
            )
            conn.executemany("INSERT INTO team_run_usage VALUES (?, ?, ?, ?, ?, ?, ?, ?)", usage_rows(record))

        await self.db.write(txn)

    async def pause(self, tenant_id: str, run_id: str) -> None:
        await self._ready()
        await self.db.write(lambda conn: conn.execute(PAUSE["qmark"], (run_id, tenant_id)))

    async def unpause(self, tenant_id: str, run_id: str, *, max_concurrent: int, lease: float) -> None:
        await self._ready()

        def txn(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT status FROM team_runs WHERE run_id = ? AND tenant_id = ?",
                               (run_id, tenant_id)).fetchone()
            if row is None or row[0] != "paused":
                return
            now = time.time()
            running = conn.execute(
                "SELECT COUNT(*) FROM team_runs WHERE tenant_id = ? AND status = 'running' AND lease_until > ?",
                (tenant_id, now),
            ).fetchone()[0]
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", running, max_concurrent)
            conn.execute(UNPAUSE["qmark"], (now + lease, run_id, tenant_id))

        await self.db.write(txn)

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        await self._ready()

        def read(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(
                GET["qmark"], (run_id, tenant_id)
            ).fetchone()
            if row is None:
                return None
            rows = conn.execute(
                "SELECT agent, prompt_tokens, completion_tokens, requests, cost FROM team_run_usage WHERE run_id = ?",
                (run_id,),
            ).fetchall()
            return to_record(row, {a: Usage(p, c, r, cost) for a, p, c, r, cost in rows})

        return await self.db.read(read)

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        await self._ready()
        rows = await self.db.read_in_thread(
            lambda conn: conn.execute(
                LIST["qmark"],
                (tenant_id, int(limit), int(offset)),
            ).fetchall()
        )
        return [to_record(r) for r in rows]

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
            return tenant_usage(tenant_id, int(total[4]), total, rows)

        return await self.db.read_in_thread(read)

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await release_sqlite(self.db)
