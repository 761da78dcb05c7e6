"""SQLite and PostgreSQL process-event logs: table ``process_events`` (validated name), bound parameters only.

Table names are interpolated only after ``validate_identifier``; every value is a bound parameter.
"""
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Literal

from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.postgres import PostgresBackend, postgres_backend
from llmteam.backends.sqlite import SQLiteDatabase, open_sqlite, release_sqlite
from llmteam.roles._errors import EventLogError
from llmteam.roles._event_log import (
    DEFAULT_TABLE,
    Cursor,
    EventFilter,
    EventLogBase,
    Row,
    _rows,
)
from llmteam.roles._models import ProcessEvent

_COLUMNS = (
    "tenant_id, case_id, event_id, ts_us, ts_text, activity, resource, lifecycle, duration_ms, cost, attributes"
)


def _where(where: EventFilter, after: Cursor | None, placeholder: Any) -> tuple[str, list[Any]]:
    """A WHERE clause (bound parameters only) for the filters and the keyset cursor."""
    clauses: list[str] = []
    params: list[Any] = []
    if where.tenant_id is not None:
        params.append(where.tenant_id)
        clauses.append(f"tenant_id = {placeholder(len(params))}")
    if where.case_id is not None:
        params.append(where.case_id)
        clauses.append(f"case_id = {placeholder(len(params))}")
    if after is not None:
        marks = []
        for value in after:
            params.append(value)
            marks.append(placeholder(len(params)))
        clauses.append(f"(tenant_id, case_id, ts_us, seq) > ({', '.join(marks)})")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _page(rows: Iterable[Any]) -> list[tuple[Cursor, Row]]:
    out = []
    for r in rows:
        row: Row = tuple(r[1:])
        out.append(((row[0], row[1], row[3], r[0]), row))
    return out


class SQLiteEventLog(EventLogBase):
    """The embedded log in one SQLite file (WAL, ``synchronous=NORMAL``: survives process crashes)."""

    def __init__(
        self,
        path: SQLiteDatabase | str,
        *,
        table_name: str = DEFAULT_TABLE,
        synchronous: Literal["FULL", "NORMAL"] = "NORMAL",
    ) -> None:
        self.table = validate_identifier(table_name, "event log table name", suffixes=("_case_order",))
        if synchronous == "NORMAL" and isinstance(path, str):
            path = f"{path}?synchronous=NORMAL"  # used when this log is the first to open the file
        self._db = open_sqlite(path)  # the file's shared backend: one writer thread whatever stores are open
        self.path = self._db.path
        self._released = False

    def _ddl(self) -> list[str]:
        t = self.table
        return [
            f"CREATE TABLE IF NOT EXISTS {t} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, "
            "case_id TEXT NOT NULL, event_id TEXT NOT NULL, ts_us INTEGER NOT NULL, ts_text TEXT NOT NULL, "
            "activity TEXT NOT NULL, resource TEXT NOT NULL, lifecycle TEXT NOT NULL, "
            "duration_ms INTEGER NOT NULL, cost REAL NOT NULL, attributes TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {t}_case_order ON {t} (tenant_id, case_id, ts_us, seq)",
        ]

    async def _ready(self) -> None:
        try:
            await self._db.ensure_schema(f"roles.event_log.{self.table}", [self._ddl()])
        except sqlite3.Error as exc:
            raise EventLogError(f"cannot open the event log in SQLite file {self.path!r}: {exc}") from exc

    async def append_many(self, events: Iterable[ProcessEvent], *, tenant_id: str = "") -> int:
        """Store ``events`` in one committed transaction (validated first: all or nothing)."""
        rows = _rows(events, tenant_id)
        if not rows:
            return 0
        await self._ready()
        sql = f"INSERT INTO {self.table} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        await self._db.write(lambda conn: conn.executemany(sql, rows))
        return len(rows)

    async def fetch_page(self, where: EventFilter, after: Cursor | None, limit: int) -> list[tuple[Cursor, Row]]:
        """A page in (tenant, case, time, seq) order, read in a worker thread."""
        await self._ready()
        clause, params = _where(where, after, lambda _i: "?")
        sql = (
            f"SELECT seq, {_COLUMNS} FROM {self.table}{clause} "
            "ORDER BY tenant_id, case_id, ts_us, seq LIMIT ?"
        )
        rows = await self._db.read_in_thread(lambda conn: conn.execute(sql, [*params, limit]).fetchall())
        return _page(rows)

    async def count(self, *, tenant_id: str | None = None, case_id: str | None = None) -> int:
        """How many events match."""
        await self._ready()
        clause, params = _where(EventFilter(tenant_id, case_id), None, lambda _i: "?")
        sql = f"SELECT COUNT(*) FROM {self.table}{clause}"
        return int(await self._db.read_in_thread(lambda conn: conn.execute(sql, params).fetchone()[0]))

    async def close(self) -> None:
        """Release this log's share of the file's backend (the last holder closes it); idempotent."""
        if not self._released:
            self._released = True
            await release_sqlite(self._db)


class PostgresEventLog(EventLogBase):
    """The shared log in PostgreSQL (asyncpg, imported lazily); give a ``pool`` or a ``dsn``."""

    def __init__(
        self, *, pool: PostgresBackend | Any = None, dsn: str | None = None, table_name: str = DEFAULT_TABLE
    ) -> None:
        if pool is None and dsn is None:
            raise ValueError("PostgresEventLog needs pool= (an asyncpg pool) or dsn= (a postgresql:// URL)")
        self.table = validate_identifier(table_name, "event log table name", suffixes=("_case_order",))
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False

    async def _acquire_pool(self) -> Any:
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
        rows = _rows(events, tenant_id)
        if not rows:
            return 0
        pool = await self._acquire_pool()
        marks = ", ".join(f"${i}" for i in range(1, 12))
        sql = f"INSERT INTO {self.table} ({_COLUMNS}) VALUES ({marks})"
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(sql, rows)
        return len(rows)

    async def fetch_page(self, where: EventFilter, after: Cursor | None, limit: int) -> list[tuple[Cursor, Row]]:
        """A page in (tenant, case, time, seq) order."""
        pool = await self._acquire_pool()
        clause, params = _where(where, after, lambda i: f"${i}")
        sql = (
            f"SELECT seq, {_COLUMNS} FROM {self.table}{clause} "
            f"ORDER BY tenant_id, case_id, ts_us, seq LIMIT ${len(params) + 1}"
        )
        async with pool.acquire() as conn:
            rows = await conn.fetch(sql, *params, limit)
        return _page(rows)

    async def count(self, *, tenant_id: str | None = None, case_id: str | None = None) -> int:
        """How many events match."""
        pool = await self._acquire_pool()
        clause, params = _where(EventFilter(tenant_id, case_id), None, lambda i: f"${i}")
        async with pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT COUNT(*) FROM {self.table}{clause}", *params))

    async def close(self) -> None:
        """Release this log's share of the backend (the last holder closes the pool); idempotent."""
        if not self._released:
            self._released = True
            await self.backend.release()
