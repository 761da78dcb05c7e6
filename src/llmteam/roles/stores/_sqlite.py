"""SQLite process-event log on the file's shared backend (WAL; bound parameters only)."""
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Literal

from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.sqlite import SQLiteDatabase, open_sqlite, release_sqlite
from llmteam.roles._errors import EventLogError
from llmteam.roles._event_log import DEFAULT_TABLE, Cursor, EventFilter, EventLogBase, Row, rows_of
from llmteam.roles._models import ProcessEvent
from llmteam.roles.stores._sql import COLUMNS, to_page, where_clause


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
        rows = rows_of(events, tenant_id)
        if not rows:
            return 0
        await self._ready()
        sql = f"INSERT INTO {self.table} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        await self._db.write(lambda conn: conn.executemany(sql, rows))
        return len(rows)

    async def fetch_page(self, where: EventFilter, after: Cursor | None, limit: int) -> list[tuple[Cursor, Row]]:
        """A page in (tenant, case, time, seq) order, read in a worker thread."""
        await self._ready()
        clause, params = where_clause(where, after, lambda _i: "?")
        sql = (
            f"SELECT seq, {COLUMNS} FROM {self.table}{clause} "
            "ORDER BY tenant_id, case_id, ts_us, seq LIMIT ?"
        )
        rows = await self._db.read_in_thread(lambda conn: conn.execute(sql, [*params, limit]).fetchall())
        return to_page(rows)

    async def count(self, *, tenant_id: str | None = None, case_id: str | None = None) -> int:
        """How many events match."""
        await self._ready()
        clause, params = where_clause(EventFilter(tenant_id, case_id), None, lambda _i: "?")
        sql = f"SELECT COUNT(*) FROM {self.table}{clause}"
        return int(await self._db.read_in_thread(lambda conn: conn.execute(sql, params).fetchone()[0]))

    async def close(self) -> None:
        """Release this log's share of the file's backend (the last holder closes it); idempotent."""
        if not self._released:
            self._released = True
            await release_sqlite(self._db)
