"""PostgreSQL stores (extra ``postgres``): shared, durable state for many processes and machines.

asyncpg is imported lazily. A store takes either an asyncpg ``pool`` (borrowed; you close it) or a ``dsn``
(the store creates its pool on first use, on the running loop, and :meth:`close` closes it). Tables are
created idempotently on first use and versioned in ``schema_version``. Only bound parameters are used;
table names are validated identifiers. Tenants are soft-deleted (``deleted_at``) and then invisible to
``get``, ``list`` and ``count``; creating the id again revives the row. Keys use the ``"C"`` collation so
prefix scans are exact index ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.postgres import PgPool, PostgresBackend, postgres_backend
from llmteam.backends.resource import AsyncClosing
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

_TENANT_SQL = {
    "ddl": "CREATE TABLE IF NOT EXISTS {t} (tenant_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "tier TEXT NOT NULL, is_active BOOLEAN NOT NULL, config JSON NOT NULL, "
    "written_at TIMESTAMPTZ NOT NULL DEFAULT now(), deleted_at TIMESTAMPTZ)",
    "get": "SELECT config FROM {t} WHERE tenant_id = $1 AND deleted_at IS NULL",
    "create": "INSERT INTO {t} (tenant_id, name, tier, is_active, config) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (tenant_id) DO UPDATE SET name = EXCLUDED.name, tier = EXCLUDED.tier, "
    "is_active = EXCLUDED.is_active, config = EXCLUDED.config, written_at = now(), deleted_at = NULL "
    "WHERE {t}.deleted_at IS NOT NULL RETURNING tenant_id",
    "update": "UPDATE {t} SET name = $2, tier = $3, is_active = $4, config = $5, written_at = now() "
    "WHERE tenant_id = $1 AND deleted_at IS NULL RETURNING tenant_id",
    "delete": "UPDATE {t} SET deleted_at = now() WHERE tenant_id = $1 AND deleted_at IS NULL RETURNING tenant_id",
    "list": "SELECT config FROM {t} WHERE deleted_at IS NULL ORDER BY tenant_id LIMIT $1 OFFSET $2",
    "count": "SELECT COUNT(*) FROM {t} WHERE deleted_at IS NULL",
}

_KV_SQL = {
    "ddl": 'CREATE TABLE IF NOT EXISTS {t} (key TEXT COLLATE "C" PRIMARY KEY, value JSON NOT NULL, '
    "updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "get": "SELECT value FROM {t} WHERE key = $1",
    "set": "INSERT INTO {t} (key, value) VALUES ($1, $2) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    "delete": "DELETE FROM {t} WHERE key = $1 RETURNING key",
    "exists": "SELECT EXISTS (SELECT 1 FROM {t} WHERE key = $1)",
    "list_from": "SELECT key FROM {t} WHERE key >= $1 ORDER BY key",
    "list_range": "SELECT key FROM {t} WHERE key >= $1 AND key < $2 ORDER BY key",
    "get_many": "SELECT key, value FROM {t} WHERE key = ANY($1::text[])",
    "set_many": "INSERT INTO {t} (key, value) SELECT * FROM unnest($1::text[], $2::json[]) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    "delete_many": "DELETE FROM {t} WHERE key = ANY($1::text[]) RETURNING key",
    "count": "SELECT COUNT(*) FROM {t}",
}


POSTGRES_SCHEMA = (
    render_sql(_TENANT_SQL, "tenants")["ddl"] + ";\n" + render_sql(_KV_SQL, "kv_store")["ddl"] + ";\n"
)
"""The DDL of the default tables (the stores run it themselves; this is for review and migrations)."""


class _PostgresStore(AsyncClosing):
    """One table reached through a borrowed pool or a lazily created one."""

    _component = ""
    _templates: dict[str, str] = {}

    def __init__(self, pool: PostgresBackend | PgPool | None, table_name: str, dsn: str | None) -> None:
        if (pool is None) == (dsn is None):
            raise ValueError("give exactly one of pool (an asyncpg pool) or dsn (a postgresql:// URL)")
        self.table_name = validate_identifier(table_name)
        self._sql = render_sql(self._templates, table_name)
        self.backend = postgres_backend(pool, dsn)  # the URL's shared pool
        self._released = False

    async def _prepare(self) -> PgPool:
        return await self.backend.ensure_schema(f"{self._component}.{self.table_name}", [[self._sql["ddl"]]])

    async def close(self) -> None:
        """Release this store's share of the backend (the last holder closes the pool); idempotent."""
        if not self._released:
            self._released = True
            await self.backend.release()


class PostgresTenantStore(_PostgresStore, TenantStoreBase):
    """Tenant configs in PostgreSQL (JSON document per tenant, soft delete)."""

    _component = "tenancy.tenants"
    _templates = _TENANT_SQL

    def __init__(
        self, pool: PostgresBackend | PgPool | None = None, table_name: str = "tenants", *, dsn: str | None = None
    ) -> None:
        super().__init__(pool, table_name, dsn)

    @staticmethod
    def _args(config: TenantConfig) -> tuple[Any, ...]:
        document = encode_config(config)
        return config.tenant_id, config.name, config.tier.value, config.is_active, document

    async def get(self, tenant_id: str) -> TenantConfig | None:
        """The tenant's config, or None (also for a soft-deleted tenant)."""
        pool = await self._prepare()
        document = await pool.fetchval(self._sql["get"], tenant_id)
        return None if document is None else decode_config(document)

    async def create(self, config: TenantConfig) -> None:
        """Insert a tenant (reviving a soft-deleted row); TenantAlreadyExistsError if the id is live."""
        args = self._args(config)
        pool = await self._prepare()
        created = await pool.fetchval(self._sql["create"], *args)
        if created is None:
            raise TenantAlreadyExistsError(f"tenant {config.tenant_id!r} already exists")

    async def update(self, config: TenantConfig) -> None:
        """Replace a live tenant's config; TenantNotFoundError if it does not exist."""
        args = self._args(config)
        pool = await self._prepare()
        updated = await pool.fetchval(self._sql["update"], *args)
        if updated is None:
            raise TenantNotFoundError(f"tenant {config.tenant_id!r} does not exist")

    async def delete(self, tenant_id: str) -> bool:
        """Soft-delete the tenant; True if it was live."""
        pool = await self._prepare()
        deleted = await pool.fetchval(self._sql["delete"], tenant_id)
        return deleted is not None

    async def list(self, limit: int = 100, offset: int = 0) -> list[TenantConfig]:
        """One page of live tenants, ordered by tenant id."""
        check_page(limit, offset)
        pool = await self._prepare()
        rows = await pool.fetch(self._sql["list"], limit, offset)
        return [decode_config(r[0]) for r in rows]

    async def count(self) -> int:
        """How many live tenants are stored."""
        pool = await self._prepare()
        return int(await pool.fetchval(self._sql["count"]))


class PostgresKeyValueStore(_PostgresStore, KeyValueStoreBase):
    """A key-value table in PostgreSQL; values are JSON documents, batches are single statements."""

    _component = "tenancy.kv"
    _templates = _KV_SQL

    def __init__(
        self, pool: PostgresBackend | PgPool | None = None, table_name: str = "kv_store", *, dsn: str | None = None
    ) -> None:
        super().__init__(pool, table_name, dsn)

    async def get(self, key: str) -> Any | None:
        """The value, or None."""
        pool = await self._prepare()
        document = await pool.fetchval(self._sql["get"], check_key(key))
        return None if document is None else decode_value(document)

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` (as JSON) under ``key``; TypeError naming the key if it is not JSON."""
        document = encode_value(check_key(key), value)
        pool = await self._prepare()
        await pool.execute(self._sql["set"], key, document)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        pool = await self._prepare()
        gone = await pool.fetchval(self._sql["delete"], check_key(key))
        return gone is not None

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is present."""
        pool = await self._prepare()
        return bool(await pool.fetchval(self._sql["exists"], check_key(key)))

    async def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (an index range; ``%`` and ``_`` are plain characters)."""
        check_key(prefix)
        pool = await self._prepare()
        upper = prefix_upper_bound(prefix)
        if upper is None:
            rows = await pool.fetch(self._sql["list_from"], prefix)
        else:
            rows = await pool.fetch(self._sql["list_range"], prefix, upper)
        return [r[0] for r in rows if r[0].startswith(prefix)]

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """``{key: value}`` for the keys present (one query)."""
        wanted = check_keys(keys)
        if not wanted:
            return {}
        pool = await self._prepare()
        rows = await pool.fetch(self._sql["get_many"], wanted)
        return {r[0]: decode_value(r[1]) for r in rows}

    async def set_many(self, items: Mapping[str, Any]) -> None:
        """Store several values in one statement: all are written, or (on any bad value) none."""
        rows = encode_items(items)
        if not rows:
            return
        pool = await self._prepare()
        await pool.execute(
            self._sql["set_many"],
            [k for k, _ in rows],
            [v for _, v in rows],
        )

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys in one statement; returns how many existed."""
        wanted = check_keys(keys)
        if not wanted:
            return 0
        pool = await self._prepare()
        rows = await pool.fetch(self._sql["delete_many"], wanted)
        return len(rows)

    async def count(self) -> int:
        """How many keys are stored."""
        pool = await self._prepare()
        return int(await pool.fetchval(self._sql["count"]))
