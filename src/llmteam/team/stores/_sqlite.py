"""SQLite run store: admission counts and inserts in one ``BEGIN IMMEDIATE`` transaction on the file's backend."""

from __future__ import annotations

import sqlite3
import time

from llmteam.backends.sqlite import SQLiteDatabase, open_sqlite, release_sqlite
from llmteam.team._errors import AdmissionRefused
from llmteam.team._records import RunRecord, TenantUsage, utc_day
from llmteam.team._store import RunStore, not_running, taken
from llmteam.team.stores import _sql

SQL = _sql.QMARK


class SQLiteRunStore(RunStore):
    """Run records in a SQLite file (shared with the other stores of ``sqlite:///...``), durable on return."""

    def __init__(self, db: SQLiteDatabase | str) -> None:
        self.db = open_sqlite(db)  # the file's shared backend: one writer thread whatever stores are open
        self._released = False

    async def _ready(self) -> None:
        await self.db.ensure_schema(_sql.COMPONENT, _sql.migrations("REAL"))

    async def admit(self, record: RunRecord, *, max_concurrent: int, max_per_day: int, lease: float) -> None:
        await self._ready()

        def txn(conn: sqlite3.Connection) -> float:
            now = time.time()  # under the write lock: the run starts when it is admitted
            day = utc_day(now)
            running = conn.execute(SQL.running, (record.tenant_id, now)).fetchone()[0]
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", running, max_concurrent)
            row = conn.execute(SQL.today, (record.tenant_id, day)).fetchone()
            today = row[0] if row else 0
            if today >= max_per_day:
                raise AdmissionRefused("runs_per_day", today, max_per_day)
            if conn.execute(SQL.taken, (record.run_id,)).fetchone() is not None:
                raise taken(record)
            conn.execute(SQL.admit, _sql.admit_args(record, now, lease))
            conn.execute(SQL.count_day, (record.tenant_id, day))
            return now

        record.started_at = await self.db.write(txn)

    async def finish(self, record: RunRecord) -> None:
        await self._ready()

        def txn(conn: sqlite3.Connection) -> None:
            if conn.execute(SQL.finish, _sql.finish_args(record)).rowcount != 1:
                raise not_running(record)
            conn.executemany(SQL.insert_agent, _sql.usage_rows(record))

        await self.db.write(txn)

    async def pause(self, tenant_id: str, run_id: str) -> None:
        await self._ready()
        await self.db.write(lambda conn: conn.execute(SQL.pause, (run_id, tenant_id)))

    async def unpause(self, tenant_id: str, run_id: str, *, max_concurrent: int, lease: float) -> None:
        await self._ready()

        def txn(conn: sqlite3.Connection) -> None:
            row = conn.execute(SQL.status,
                               (run_id, tenant_id)).fetchone()
            if row is None or row[0] != "paused":
                return
            now = time.time()
            running = conn.execute(
                SQL.running,
                (tenant_id, now),
            ).fetchone()[0]
            if running >= max_concurrent:
                raise AdmissionRefused("concurrent_pipelines", running, max_concurrent)
            conn.execute(SQL.unpause, (now + lease, run_id, tenant_id))

        await self.db.write(txn)

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        await self._ready()

        def read(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(SQL.get, (run_id, tenant_id)).fetchone()
            if row is None:
                return None
            return _sql.to_record(row, conn.execute(SQL.agents, (run_id, tenant_id)).fetchall())

        return await self.db.read(read)

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        await self._ready()
        rows = await self.db.read_in_thread(
            lambda conn: conn.execute(SQL.list, (tenant_id, int(limit), int(offset))).fetchall()
        )
        return [_sql.to_record(r) for r in rows]

    async def usage(self, tenant_id: str) -> TenantUsage:
        await self._ready()

        def read(conn: sqlite3.Connection) -> TenantUsage:
            total = conn.execute(SQL.total, (tenant_id,)).fetchone()
            return _sql.tenant_usage(tenant_id, total, conn.execute(SQL.by_agent, (tenant_id,)).fetchall())

        return await self.db.read_in_thread(read)

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await release_sqlite(self.db)
