"""SQLite stores: the embedded, durable default (WAL; a write that returned is committed).

Both stores run on the file's shared :class:`llmteam.backends.SQLiteBackend`: writes go to its writer thread in one
``BEGIN IMMEDIATE`` transaction each (``synchronous=FULL`` by default, so an acknowledged write survives a
power loss; ``NORMAL`` survives process crashes and may lose the last commits on power loss); point reads run
inline on a read-only connection. Key-value values are stored as JSON documents.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.resource import AsyncClosing
from llmteam.backends.sqlite import SQLiteDatabase, open_sqlite, release_sqlite
from llmteam.tenancy._config import TenantConfig
from llmteam.tenancy._errors import TenantAlreadyExistsError, TenantNotFoundError
from llmteam.tenancy._protocols import KeyValueStoreBase, TenantStoreBase
from llmteam.tenancy.stores._codec import (
    check_key,
    check_keys,
    check_page,
    decode_config,
    decode_value,
    encode_config,
    encode_items,
    encode_value,
    prefix_upper_bound,
    render_sql,
)

_CHUNK = 500  # bound parameters per IN (...) query

_TENANT_SQL = {
    "ddl": "CREATE TABLE IF NOT EXISTS {t} (tenant_id TEXT PRIMARY KEY, tier TEXT NOT NULL, "
    "is_active INTEGER NOT NULL, config TEXT NOT NULL, created_at TEXT NOT NULL, "
    "updated_at TEXT NOT NULL) WITHOUT ROWID",
    "get": "SELECT config FROM {t} WHERE tenant_id = ?",
    "insert": "INSERT INTO {t} (tier, is_active, config, created_at, updated_at, tenant_id) "
    "VALUES (?, ?, ?, ?, ?, ?)",
    "update": "UPDATE {t} SET tier = ?, is_active = ?, config = ?, created_at = ?, updated_at = ? "
    "WHERE tenant_id = ?",
    "delete": "DELETE FROM {t} WHERE tenant_id = ?",
    "list": "SELECT config FROM {t} ORDER BY tenant_id LIMIT ? OFFSET ?",
    "count": "SELECT COUNT(*) FROM {t}",
}

_KV_SQL = {
    "ddl": "CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "get": "SELECT value FROM {t} WHERE key = ?",
    "set": "INSERT INTO {t} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    "delete": "DELETE FROM {t} WHERE key = ?",
    "exists": "SELECT 1 FROM {t} WHERE key = ?",
    "list_from": "SELECT key FROM {t} WHERE key >= ? ORDER BY key",
    "list_range": "SELECT key FROM {t} WHERE key >= ? AND key < ? ORDER BY key",
    "get_chunk": "SELECT key, value FROM {t} WHERE key IN (SELECT value FROM json_each(?))",
    "count": "SELECT COUNT(*) FROM {t}",
}


class _SQLiteStore(AsyncClosing):
    """One table in one SQLite file, created on first use."""

    _component = ""
    _templates: dict[str, str] = {}

    def __init__(
        self,
        path: SQLiteDatabase | str | os.PathLike[str],
        *,
        table_name: str,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self.table_name = validate_identifier(table_name)
        self._sql = render_sql(self._templates, table_name)
        if synchronous == "NORMAL" and isinstance(path, (str, os.PathLike)):
            path = f"{os.fspath(path)}?synchronous=NORMAL"
        self._db = open_sqlite(path)  # the file's shared backend: one writer thread whatever stores are open
        self.path = self._db.path
        self._ready = False
        self._released = False

    async def _prepare(self) -> SQLiteDatabase:
        if not self._ready:
            await self._db.ensure_schema(f"{self._component}.{self.table_name}", [[self._sql["ddl"]]])
            self._ready = True
        return self._db

    async def close(self) -> None:
        """Release this store's share of the file's backend (the last holder closes it); idempotent."""
        if not self._released:
            self._released = True
            await release_sqlite(self._db)


class SQLiteTenantStore(_SQLiteStore, TenantStoreBase):
    """Tenant configs in a SQLite table (JSON document per tenant, plus tier and status columns)."""

    _component = "tenancy.tenants"
    _templates = _TENANT_SQL

    def __init__(
        self,
        path: SQLiteDatabase | str | os.PathLike[str],
        *,
        table_name: str = "tenants",
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        super().__init__(path, table_name=table_name, synchronous=synchronous)

    async def get(self, tenant_id: str) -> TenantConfig | None:
        """The tenant's config, or None."""
        db = await self._prepare()
        sql = self._sql["get"]
        rows = await db.read(lambda c: c.execute(sql, (tenant_id,)).fetchall())
        return decode_config(rows[0][0]) if rows else None

    @staticmethod
    def _row(config: TenantConfig) -> tuple[Any, ...]:
        document = encode_config(config)
        return (
            config.tier.value, int(config.is_active), document,
            config.created_at.isoformat(), config.updated_at.isoformat(), config.tenant_id,
        )

    async def create(self, config: TenantConfig) -> None:
        """Insert a new tenant; TenantAlreadyExistsError if the id is taken."""
        db = await self._prepare()
        row = self._row(config)
        sql = self._sql["insert"]

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(sql, row)
            except sqlite3.IntegrityError as err:
                raise TenantAlreadyExistsError(f"tenant {config.tenant_id!r} already exists") from err

        await db.write(insert)

    async def update(self, config: TenantConfig) -> None:
        """Replace a tenant's config; TenantNotFoundError if it does not exist."""
        db = await self._prepare()
        row = self._row(config)
        sql = self._sql["update"]

        def update(conn: sqlite3.Connection) -> None:
            if conn.execute(sql, row).rowcount == 0:
                raise TenantNotFoundError(f"tenant {config.tenant_id!r} does not exist")

        await db.write(update)

    async def delete(self, tenant_id: str) -> bool:
        """Remove the tenant; True if it existed."""
        db = await self._prepare()
        sql = self._sql["delete"]
        return await db.write(lambda c: c.execute(sql, (tenant_id,)).rowcount > 0)

    async def list(self, limit: int = 100, offset: int = 0) -> list[TenantConfig]:
        """One page of tenants, ordered by tenant id."""
        check_page(limit, offset)
        db = await self._prepare()
        sql = self._sql["list"]
        rows = await db.read_in_thread(lambda c: c.execute(sql, (limit, offset)).fetchall())
        return [decode_config(r[0]) for r in rows]

    async def count(self) -> int:
        """How many tenants are stored."""
        db = await self._prepare()
        sql = self._sql["count"]
        return int((await db.read(lambda c: c.execute(sql).fetchall()))[0][0])


class SQLiteKeyValueStore(_SQLiteStore, KeyValueStoreBase):
    """A key-value table in SQLite; values are JSON documents, batches are single transactions."""

    _component = "tenancy.kv"
    _templates = _KV_SQL

    def __init__(
        self,
        path: SQLiteDatabase | str | os.PathLike[str],
        *,
        table_name: str = "kv_store",
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        super().__init__(path, table_name=table_name, synchronous=synchronous)
        self._get_sql = self._sql["get"]
        self._set_sql = self._sql["set"]
        self._delete_sql = self._sql["delete"]

    async def get(self, key: str) -> Any | None:
        """The value, or None."""
        db = self._db if self._ready else await self._prepare()
        args = (check_key(key),)
        rows = db.read_sync(lambda c: c.execute(self._get_sql, args).fetchall())
        return decode_value(rows[0][0]) if rows else None

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` (as JSON) under ``key``; TypeError naming the key if it is not JSON."""
        row = (check_key(key), encode_value(key, value))
        db = await self._prepare()
        await db.write(lambda c: c.execute(self._set_sql, row))

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        db = await self._prepare()
        args = (check_key(key),)
        return await db.write(lambda c: c.execute(self._delete_sql, args).rowcount > 0)

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is present."""
        db = await self._prepare()
        sql, args = self._sql["exists"], (check_key(key),)
        return bool(await db.read(lambda c: c.execute(sql, args).fetchall()))

    async def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (an index range scan; ``%`` and ``_`` are plain characters)."""
        check_key(prefix)
        db = await self._prepare()
        upper = prefix_upper_bound(prefix)
        sql = self._sql["list_from" if upper is None else "list_range"]
        args: tuple[str, ...] = (prefix,) if upper is None else (prefix, upper)
        rows = await db.read_in_thread(lambda c: c.execute(sql, args).fetchall())
        return [r[0] for r in rows if r[0].startswith(prefix)]

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """``{key: value}`` for the keys present."""
        wanted = check_keys(keys)
        db = await self._prepare()
        sql = self._sql["get_chunk"]

        def fetch(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows: list[tuple[str, str]] = []
            for i in range(0, len(wanted), _CHUNK):
                rows.extend(conn.execute(sql, (json.dumps(wanted[i : i + _CHUNK]),)).fetchall())
            return rows

        return {k: decode_value(v) for k, v in await db.read(fetch)}

    async def set_many(self, items: Mapping[str, Any]) -> None:
        """Store several values in one transaction: all are written, or (on any bad value) none."""
        rows = encode_items(items)
        if not rows:
            return
        db = await self._prepare()
        await db.write(lambda c: c.executemany(self._set_sql, rows))

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys in one transaction; returns how many existed."""
        wanted = check_keys(keys)
        if not wanted:
            return 0
        db = await self._prepare()

        def remove(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(self._delete_sql, [(k,) for k in wanted])
            return conn.total_changes - before

        return await db.write(remove)

    async def count(self) -> int:
        """How many keys are stored."""
        db = await self._prepare()
        sql = self._sql["count"]
        return int((await db.read(lambda c: c.execute(sql).fetchall()))[0][0])
