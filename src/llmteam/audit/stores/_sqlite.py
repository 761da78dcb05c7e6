"""SQLite audit store: the embedded default, append-only, durable on return (``synchronous=FULL``)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain
from typing import Any

from llmteam.audit._errors import AuditStorageError
from llmteam.audit._query import AuditQuery, normalized
from llmteam.audit._record import AuditRecord
from llmteam.audit._store import ChainRow
from llmteam.audit.stores._sql import (
    COLUMNS,
    DERIVED_SUFFIXES,
    IN_CHAIN,
    SQLITE_IN_CHAIN,
    Dialect,
    SQLAppending,
    build_query,
    duplicate_error,
    row_to_chain,
    row_to_record,
    sealed_rows,
)
from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.sqlite import SQLiteDatabase, Statement, open_sqlite, release_sqlite

__all__ = ["SQLiteAuditStore"]

_SHORT_WRITE_ROWS = 8
# Rows per multi-row INSERT: 32 rows of 26 columns stay under SQLite's smallest ever bound-variable limit (999).
# One statement per 32 rows costs a quarter less than executemany's statement per row.
_ROWS_PER_INSERT = 32
_DIALECT = Dialect(
    placeholder=lambda n: "?",
    tags_any=lambda p: (
        f"EXISTS (SELECT 1 FROM json_each(tags) AS t WHERE t.value IN (SELECT value FROM json_each({p})))"  # noqa: S608
    ),
    contains=lambda col, p: f"instr(lower({col}), {p}) > 0",
    in_chain=SQLITE_IN_CHAIN,
)


def _migrations(t: str) -> list[Sequence[Statement]]:
    """The audit table's schema steps (``schema_version`` records the last one applied).

    1: the tables as a new database gets them. 2: the idempotent DDL again, which brings a v1 database the
    append-only checkpoint triggers (sequence numbers >= 1 are checked on every read path for tables created
    before the CHECK). 3: drop the unique index that duplicated ``UNIQUE(tenant_id, sequence_number)``.
    4: drop the sequence-number trigger where the table's own CHECK already refuses those rows.
    """
    return [_ddl(t), _ddl(t), [f"DROP INDEX IF EXISTS {t}_tenant_seq"], [partial(_drop_redundant_trigger, t)]]


def _drop_redundant_trigger(t: str, conn: sqlite3.Connection) -> None:
    """Drop ``{t}_seq_positive`` if table ``t`` was created with ``CHECK (sequence_number >= 1)`` (v2 and later).

    The trigger runs a program for every inserted row (a fifth of a bare batch insert's cost) to do what the
    CHECK does in the row itself; a table created by v1 has no CHECK (SQLite cannot add one) and keeps it.
    """
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (t,)).fetchone()
    if row is not None and f"CHECK ({IN_CHAIN})" in row[0]:
        conn.execute(f"DROP TRIGGER IF EXISTS {t}_seq_positive")


def _ddl(t: str) -> list[str]:
    text_cols = ",\n".join(f"{c} TEXT NOT NULL" for c in COLUMNS if c not in ("sequence_number", "ts_us", "success"))
    return [
        f"CREATE TABLE IF NOT EXISTS {t} (sequence_number INTEGER NOT NULL, ts_us INTEGER NOT NULL, "
        f"success INTEGER NOT NULL, {text_cols}, UNIQUE (tenant_id, sequence_number), "
        f"CHECK ({IN_CHAIN}))",
        f"CREATE INDEX IF NOT EXISTS {t}_tenant_ts ON {t} (tenant_id, ts_us)",
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'audit log {t} is append-only'); END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'audit log {t} is append-only'); END",
        f"CREATE TABLE IF NOT EXISTS {t}_checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "tenant_id TEXT NOT NULL, tree_size INTEGER NOT NULL, body TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {t}_checkpoints_tenant ON {t}_checkpoints (tenant_id, tree_size)",
        # v2, for tables created by v1 too (SQLite cannot add a CHECK to an existing table):
        f"CREATE TRIGGER IF NOT EXISTS {t}_seq_positive BEFORE INSERT ON {t} WHEN NOT (NEW.{IN_CHAIN}) "
        f"BEGIN SELECT RAISE(ABORT, 'audit log {t}: sequence numbers start at 1'); END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_checkpoints_append_only BEFORE UPDATE ON {t}_checkpoints "
        f"BEGIN SELECT RAISE(ABORT, 'audit checkpoints {t}_checkpoints are append-only'); END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_checkpoints_no_delete BEFORE DELETE ON {t}_checkpoints "
        f"BEGIN SELECT RAISE(ABORT, 'audit checkpoints {t}_checkpoints are append-only'); END",
    ]


class SQLiteAuditStore(SQLAppending):
    """Audit records in one SQLite file (WAL, ``synchronous=FULL``): an append that returned survives power loss.

    Several processes may share the file: ``BEGIN IMMEDIATE`` serialises writers and ``UNIQUE(tenant_id,
    sequence_number)`` rejects a reused sequence, which the trail answers by reloading the head and retrying.
    Triggers refuse UPDATE and DELETE (of records and of checkpoints) and sequence numbers below 1.
    """

    def __init__(self, path: SQLiteDatabase | str | os.PathLike[str], *, table_name: str = "audit_log") -> None:
        self.table = validate_identifier(table_name, "audit table name", suffixes=DERIVED_SUFFIXES)
        self.db = open_sqlite(path)  # the file's shared backend: one writer thread whatever stores are open
        self.path = self.db.path
        self._released = False
        self._schema_ok = False
        self._inserts: dict[int, str] = {}  # rows per statement -> its INSERT (powers of two up to _ROWS_PER_INSERT)
        self._insert_one = self._insert_sql(1)  # a lone append's

    async def _ready(self) -> None:
        if not self._schema_ok:  # checked once: building the DDL list costs more than a point read
            await self.db.ensure_schema(f"audit:{self.table}", _migrations(self.table))
            self._schema_ok = True

    def _insert_sql(self, n: int) -> str:
        """The INSERT of ``n`` rows (one ``(?, ...)`` group per row), built once per size."""
        sql = self._inserts.get(n)
        if sql is None:
            group = "(" + ", ".join("?" * len(COLUMNS)) + ")"
            sql = self._inserts[n] = (
                f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES {', '.join([group] * n)}"  # noqa: S608
            )
        return sql

    def _insert_rows(self, rows: list[tuple[Any, ...]], conn: sqlite3.Connection) -> None:
        """INSERT ``rows`` in order, up to ``_ROWS_PER_INSERT`` a statement (then 16, 8... for the rest)."""
        start, left = 0, len(rows)
        while left:
            n = _ROWS_PER_INSERT if left >= _ROWS_PER_INSERT else 1 << (left.bit_length() - 1)
            conn.execute(self._insert_sql(n), list(chain.from_iterable(rows[start:start + n]))).close()
            start += n
            left -= n

    def _insert_sealed(self, records: list[AuditRecord], sealed: list[tuple[str, ...] | None],
                       conn: sqlite3.Connection) -> None:
        """INSERT the rows of sealed ``records``, built a statement's worth at a time (in the writer thread)."""
        for start in range(0, len(records), _ROWS_PER_INSERT):
            end = start + _ROWS_PER_INSERT
            self._insert_rows(sealed_rows(records[start:end], sealed[start:end]), conn)

    def _append_error(self, exc: sqlite3.Error) -> AuditStorageError:
        """What an append raises for ``exc``: a reused sequence number is a lost race the trail retries."""
        if isinstance(exc, sqlite3.IntegrityError):
            return duplicate_error(exc)
        return AuditStorageError(f"SQLite audit store {self.path!r} failed to append: {exc}")

    async def _write_row(self, row: tuple[Any, ...]) -> None:
        """Write one row durably (a lone ``log()`` or ``append``), inline when the writer is idle.

        A reused ``(tenant_id, sequence_number)`` raises AuditStorageError. The row goes straight to
        :meth:`SQLiteDatabase.execute_short`: one INSERT that is its own transaction, committed before it returns.
        """
        if not self._schema_ok:
            await self._ready()
        try:
            await self.db.execute_short(self._insert_one, row)
        except sqlite3.Error as exc:
            raise self._append_error(exc) from exc

    async def _write(self, insert: Callable[[sqlite3.Connection], None], rows: int) -> None:
        """Run ``insert`` (of ``rows`` rows) as one durable transaction; a SQLite error is an AuditStorageError.

        A few rows (a small group commit) commit without the hop to the writer thread when it is idle.
        """
        if not self._schema_ok:
            await self._ready()
        try:
            await (self.db.write_short(insert) if rows <= _SHORT_WRITE_ROWS else self.db.write(insert))
        except sqlite3.Error as exc:
            raise self._append_error(exc) from exc

    async def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        await self._write(partial(self._insert_rows, rows), len(rows))

    async def _write_sealed(self, records: list[AuditRecord], sealed: list[tuple[str, ...] | None]) -> None:
        """A batch's rows are built in the writer thread as they are inserted, a statement's worth at a time: the
        loop thread is waiting meanwhile, and a batch's rows never all exist at once (the garbage collector's young
        passes traversed them all, ~0.3 us a row). A few rows (a commit group) go the short way."""
        if len(records) <= _SHORT_WRITE_ROWS:
            await self._write_rows(sealed_rows(records, sealed))
        else:
            await self._write(partial(self._insert_sealed, records, sealed), len(records))

    async def _fetch(self, sql: str, params: tuple[Any, ...] | list[Any], *, scan: bool = False) -> list[Any]:
        await self._ready()

        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, params).fetchall()

        return await (self.db.read_in_thread(run) if scan else self.db.read(run))

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        """Matching records, ordered and paginated in SQL with bound parameters."""
        nq = normalized(q)
        sql, params = build_query(self.table, nq, _DIALECT)
        rows = await self._fetch(sql, params, scan=nq.limit > 1000)
        return [row_to_record(r) for r in rows]

    async def get_last_sequence(self, tenant_id: str) -> int:
        """The tenant's highest sequence number (0 if none)."""
        return (await self.get_head(tenant_id))[0]

    async def get_head(self, tenant_id: str) -> tuple[int, str]:
        """``(last sequence, its checksum)`` read from the committed file; ``(0, "")`` if empty."""
        rows = await self._fetch(
            f"SELECT sequence_number, checksum FROM {self.table} "  # noqa: S608
            f"WHERE tenant_id = ? AND {SQLITE_IN_CHAIN} ORDER BY sequence_number DESC LIMIT 1", (tenant_id,),
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")

    def _in_range(self, columns: str) -> str:
        """SELECT ``columns`` of a tenant's records with sequence numbers in [?, ?], ascending."""
        return (f"SELECT {columns} FROM {self.table} WHERE tenant_id = ? AND {SQLITE_IN_CHAIN} "  # noqa: S608
                "AND sequence_number BETWEEN ? AND ? ORDER BY sequence_number")

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        """The tenant's records with start <= sequence <= end, ascending."""
        rows = await self._fetch(self._in_range(", ".join(COLUMNS)), (tenant_id, max(start, 1), end),
                                 scan=end - start > 1000)
        return [row_to_record(r) for r in rows]

    async def chain_rows(self, tenant_id: str, start: int, end: int) -> list[ChainRow]:
        """Verification rows for the range, ascending, built without decoding JSON."""
        rows = await self._fetch(self._in_range(", ".join(COLUMNS)), (tenant_id, max(start, 1), end), scan=True)
        return [row_to_chain(r) for r in rows]

    async def checksums(self, tenant_id: str, start: int, end: int) -> list[tuple[int, str]]:
        """``(sequence, checksum)`` pairs in the range, ascending (the Merkle leaves)."""
        rows = await self._fetch(self._in_range("sequence_number, checksum"), (tenant_id, max(start, 1), end),
                                 scan=True)
        return [(int(s), str(c)) for s, c in rows]

    async def tenants(self) -> list[str]:
        """Every tenant with at least one record."""
        sql = f"SELECT DISTINCT tenant_id FROM {self.table} WHERE {SQLITE_IN_CHAIN} ORDER BY tenant_id"  # noqa: S608
        rows = await self._fetch(sql, (), scan=True)
        return [str(r[0]) for r in rows]

    async def count(self, tenant_id: str | None = None) -> int:
        """Number of records, for one tenant or all."""
        if tenant_id is None:
            sql = f"SELECT count(*) FROM {self.table} WHERE {SQLITE_IN_CHAIN}"  # noqa: S608
            rows = await self._fetch(sql, (), scan=True)
        else:
            sql = f"SELECT count(*) FROM {self.table} WHERE tenant_id = ? AND {SQLITE_IN_CHAIN}"  # noqa: S608
            rows = await self._fetch(sql, (tenant_id,), scan=True)
        return int(rows[0][0])

    async def outside_chain(self, tenant_id: str) -> int:
        """How many of the tenant's rows have a sequence number that is not an integer >= 1 (never served; a sign of
        tampering)."""
        sql = f"SELECT count(*) FROM {self.table} WHERE tenant_id = ? AND NOT ({SQLITE_IN_CHAIN})"  # noqa: S608
        rows = await self._fetch(sql, (tenant_id,))
        return int(rows[0][0])

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint next to the log."""
        await self._ready()
        body = json.dumps(checkpoint, sort_keys=True)
        sql = f"INSERT INTO {self.table}_checkpoints (tenant_id, tree_size, body) VALUES (?, ?, ?)"  # noqa: S608

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(sql, (str(checkpoint["tenant_id"]), int(checkpoint["tree_size"]), body))

        await self.db.write(insert)

    async def checkpoint_tenants(self) -> list[str]:
        """Every tenant with a stored checkpoint, sorted (a tenant id stored as anything but text, by its text)."""
        rows = await self._fetch(f"SELECT DISTINCT tenant_id FROM {self.table}_checkpoints", (), scan=True)  # noqa: S608
        return sorted({r[0] if isinstance(r[0], str) else str(r[0]) for r in rows})

    async def latest_checkpoint(self, tenant_id: str) -> dict[str, Any] | None:
        """The most recently saved checkpoint for ``tenant_id``, or None."""
        rows = await self._fetch(
            f"SELECT body FROM {self.table}_checkpoints WHERE tenant_id = ? ORDER BY id DESC LIMIT 1",  # noqa: S608
            (tenant_id,),
        )
        return dict(json.loads(rows[0][0])) if rows else None

    async def close(self) -> None:
        """Release this store's share of the file's backend (the last holder closes it); idempotent."""
        if not self._released:
            self._released = True
            await release_sqlite(self.db)
