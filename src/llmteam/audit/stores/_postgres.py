"""PostgreSQL audit store (asyncpg, imported lazily): bound parameters only, whitelisted ``order_by``."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from llmteam.audit._errors import AuditStorageError
from llmteam.audit._query import AuditQuery, normalized
from llmteam.audit._record import AuditRecord
from llmteam.audit._store import ChainRow, Link
from llmteam.audit.stores._sql import (
    COLUMNS,
    DERIVED_SUFFIXES,
    IN_CHAIN,
    Dialect,
    SQLAppending,
    build_query,
    duplicate_error,
    row_to_chain,
    row_to_record,
    to_row,
)
from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.postgres import (
    PgPool,
    PostgresBackend,
    StoreConnectionError,
    advisory_key,
    connection_errors,
    import_asyncpg,
    postgres_backend,
)

__all__ = ["PostgresAuditStore"]

_DIALECT = Dialect(
    placeholder=lambda n: f"${n}",
    tags_any=lambda p: f"(tags::jsonb ?| ARRAY(SELECT jsonb_array_elements_text({p}::jsonb)))",
    contains=lambda col, p: f"strpos(lower({col}), {p}) > 0",
)


def _ddl(t: str) -> list[str]:
    text_cols = ", ".join(f"{c} TEXT NOT NULL" for c in COLUMNS if c not in ("sequence_number", "ts_us", "success"))
    def trigger(name: str, table: str) -> str:
        return f"""
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{name}' AND tgrelid = '{table}'::regclass) THEN
        CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table}
          FOR EACH ROW EXECUTE FUNCTION {t}_refuse_change();
      END IF;
    END $$"""  # noqa: S608 - identifiers validated, no values

    # v2 for tables created by v1: NOT VALID checks every new row without failing on rows already there
    check = f"""
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{t}_seq_positive' AND conrelid = '{t}'::regclass)
      THEN ALTER TABLE {t} ADD CONSTRAINT {t}_seq_positive CHECK ({IN_CHAIN}) NOT VALID;
      END IF;
    END $$"""  # noqa: S608 - identifiers validated, no values
    return [
        f"CREATE TABLE IF NOT EXISTS {t} (sequence_number BIGINT NOT NULL, ts_us BIGINT NOT NULL, "
        f"success BOOLEAN NOT NULL, {text_cols}, UNIQUE (tenant_id, sequence_number), "
        f"CONSTRAINT {t}_seq_positive CHECK ({IN_CHAIN}))",
        f"CREATE INDEX IF NOT EXISTS {t}_tenant_ts ON {t} (tenant_id, ts_us)",
        f"CREATE OR REPLACE FUNCTION {t}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION 'audit log {t} is append-only'; END $$",
        trigger(f"{t}_append_only", t),
        check,
        f"CREATE TABLE IF NOT EXISTS {t}_checkpoints (id BIGSERIAL PRIMARY KEY, tenant_id TEXT NOT NULL, "
        "tree_size BIGINT NOT NULL, body TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {t}_checkpoints_tenant ON {t}_checkpoints (tenant_id, id)",
        trigger(f"{t}_checkpoints_append_only", f"{t}_checkpoints"),
    ]


class PostgresAuditStore(SQLAppending):
    """Audit records in PostgreSQL; pass an asyncpg ``pool`` or a ``dsn`` (the pool is then created at first use)."""

    yield_before_lone_commit = False  # every commit awaits the server: concurrent callers queue behind it

    def __init__(
        self, pool: PostgresBackend | PgPool | None = None, table_name: str = "audit_log", *, dsn: str | None = None
    ) -> None:
        if pool is None and not dsn:
            raise ValueError("PostgresAuditStore needs an asyncpg pool or a dsn such as postgresql://user@host/db")
        self.table = validate_identifier(table_name, "audit table name", suffixes=DERIVED_SUFFIXES)
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False
        self._migrations = [_ddl(self.table), _ddl(self.table)]  # built once: _get_pool runs on every append
        cols = ", ".join(COLUMNS)
        marks = ", ".join(f"${i + 1}" for i in range(len(COLUMNS)))
        self._insert = f"INSERT INTO {self.table} ({cols}) VALUES ({marks})"  # noqa: S608 - validated table
        self._head_sql = (
            f"SELECT sequence_number, checksum FROM {self.table} WHERE tenant_id = $1 AND {IN_CHAIN} "  # noqa: S608
            "ORDER BY sequence_number DESC LIMIT 1"
        )

    async def _get_pool(self) -> PgPool:
        # step 2 re-runs the idempotent DDL: it brings a v1 database the v2 CHECK-free additions (checkpoint triggers)
        return await self.backend.ensure_schema(f"audit:{self.table}", self._migrations)

    def _unavailable(self, exc: BaseException) -> AuditStorageError:
        if isinstance(exc, StoreConnectionError):  # already names the server and says what to do
            return AuditStorageError(f"audit store: {exc}")
        where = self.backend.url.redacted
        return AuditStorageError(
            f"PostgreSQL audit store at {where} is unreachable or lost its connection ({type(exc).__name__}: "
            f"{exc}); nothing was acknowledged; retry once the server answers (the pool reconnects on its own)"
        )

    async def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        try:
            pool = await self._get_pool()
            if len(rows) == 1:  # one statement is its own durable transaction: one round trip, on the held connection
                await self.backend.execute(self._insert, *rows[0])
            else:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.executemany(self._insert, rows)
        except Exception as exc:
            self._raise_append_error(exc)

    async def append_linked(self, tenant_id: str, link: Link) -> list[AuditRecord]:
        """Read the head and append ``link(head)`` in one transaction holding the tenant's advisory lock.

        Writers that lost a race take turns here instead of retrying in lock-step (which gave up after 100
        retries with several processes on one tenant).
        """
        pool = await self._get_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(f"{self.table}:{tenant_id}"))
                row = await conn.fetchrow(self._head_sql, tenant_id)
                records = link((int(row[0]), str(row[1])) if row else (0, ""))
                await conn.executemany(self._insert, [to_row(r) for r in records])
        except Exception as exc:
            self._raise_append_error(exc)
        return records

    def _raise_append_error(self, exc: Exception) -> NoReturn:
        """Raise an append's failure as the audit module's error (a taken sequence, a lost server, another database
        error), or as it is when it is none of those."""
        asyncpg = import_asyncpg()
        if isinstance(exc, asyncpg.UniqueViolationError):
            raise duplicate_error(exc) from exc
        if isinstance(exc, connection_errors()):
            raise self._unavailable(exc) from exc
        if isinstance(exc, asyncpg.PostgresError):
            raise AuditStorageError(f"PostgreSQL audit store failed to append: {exc}") from exc
        raise exc

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        try:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                return list(await conn.fetch(sql, *params))
        except connection_errors() as exc:
            raise self._unavailable(exc) from exc

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        """Matching records, ordered and paginated in SQL with bound parameters."""
        sql, params = build_query(self.table, normalized(q), _DIALECT)
        return [row_to_record(tuple(r)) for r in await self._fetch(sql, *params)]

    async def get_last_sequence(self, tenant_id: str) -> int:
        """The tenant's highest sequence number (0 if none)."""
        return (await self.get_head(tenant_id))[0]

    async def get_head(self, tenant_id: str) -> tuple[int, str]:
        """``(last sequence, its checksum)``; ``(0, "")`` if empty."""
        rows = await self._fetch(self._head_sql, tenant_id)
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        """The tenant's records with start <= sequence <= end, ascending."""
        rows = await self._fetch(
            f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE tenant_id = $1 "  # noqa: S608
            "AND sequence_number BETWEEN $2 AND $3 ORDER BY sequence_number", tenant_id, max(start, 1), end,
        )
        return [row_to_record(tuple(r)) for r in rows]

    async def chain_rows(self, tenant_id: str, start: int, end: int) -> list[ChainRow]:
        """Verification rows for the range, ascending, built without decoding JSON."""
        rows = await self._fetch(
            f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE tenant_id = $1 "  # noqa: S608
            "AND sequence_number BETWEEN $2 AND $3 ORDER BY sequence_number", tenant_id, max(start, 1), end,
        )
        return [row_to_chain(tuple(r)) for r in rows]

    async def checksums(self, tenant_id: str, start: int, end: int) -> list[tuple[int, str]]:
        """``(sequence, checksum)`` pairs in the range, ascending (the Merkle leaves)."""
        rows = await self._fetch(
            f"SELECT sequence_number, checksum FROM {self.table} WHERE tenant_id = $1 "  # noqa: S608
            "AND sequence_number BETWEEN $2 AND $3 ORDER BY sequence_number", tenant_id, max(start, 1), end,
        )
        return [(int(s), str(c)) for s, c in rows]

    async def tenants(self) -> list[str]:
        """Every tenant with at least one record."""
        rows = await self._fetch(f"SELECT DISTINCT tenant_id FROM {self.table} WHERE {IN_CHAIN} ORDER BY tenant_id")  # noqa: S608
        return [str(r[0]) for r in rows]

    async def count(self, tenant_id: str | None = None) -> int:
        """Number of records, for one tenant or all."""
        if tenant_id is None:
            rows = await self._fetch(f"SELECT count(*) FROM {self.table} WHERE {IN_CHAIN}")  # noqa: S608
        else:
            rows = await self._fetch(
                f"SELECT count(*) FROM {self.table} WHERE tenant_id = $1 AND {IN_CHAIN}", tenant_id  # noqa: S608
            )
        return int(rows[0][0])

    async def outside_chain(self, tenant_id: str) -> int:
        """How many of the tenant's rows have a sequence number below 1 (never served: a sign of tampering)."""
        rows = await self._fetch(
            f"SELECT count(*) FROM {self.table} WHERE tenant_id = $1 AND NOT ({IN_CHAIN})", tenant_id  # noqa: S608
        )
        return int(rows[0][0])

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint next to the log."""
        try:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                await conn.execute(
                    f"INSERT INTO {self.table}_checkpoints (tenant_id, tree_size, body) VALUES ($1, $2, $3)",  # noqa: S608
                    str(checkpoint["tenant_id"]), int(checkpoint["tree_size"]), json.dumps(checkpoint, sort_keys=True),
                )
        except connection_errors() as exc:
            raise self._unavailable(exc) from exc

    async def checkpoint_tenants(self) -> list[str]:
        """Every tenant with a stored checkpoint, sorted."""
        rows = await self._fetch(f"SELECT DISTINCT tenant_id FROM {self.table}_checkpoints")  # noqa: S608
        return sorted(str(r[0]) for r in rows)

    async def latest_checkpoint(self, tenant_id: str) -> dict[str, Any] | None:
        """The most recently saved checkpoint for ``tenant_id``, or None."""
        rows = await self._fetch(
            f"SELECT body FROM {self.table}_checkpoints WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1",  # noqa: S608
            tenant_id,
        )
        return dict(json.loads(rows[0][0])) if rows else None

    async def close(self) -> None:
        """Release this store's share of the backend (the last holder closes the pool); idempotent."""
        if not self._released:
            self._released = True
            await self.backend.release()
