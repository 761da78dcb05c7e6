"""Open a store from a URL: the one place that maps ``memory://``, ``sqlite:///...`` and ``postgresql://...``."""

from __future__ import annotations

from llmteam.backends import Backend, PostgresBackend, SQLiteBackend, open_store
from llmteam.tenancy.stores._memory import MemoryKeyValueStore, MemoryTenantStore
from llmteam.tenancy.stores._postgres import PostgresKeyValueStore, PostgresTenantStore
from llmteam.tenancy.stores._sqlite import SQLiteKeyValueStore, SQLiteTenantStore


def open_tenant_store(
    url: str | Backend, *, table_name: str = "tenants"
) -> MemoryTenantStore | SQLiteTenantStore | PostgresTenantStore:
    """The tenant store on ``url`` or on an open backend (sharing it); connects at first use."""
    def sqlite(b: SQLiteBackend) -> MemoryTenantStore | SQLiteTenantStore | PostgresTenantStore:
        return SQLiteTenantStore(b, table_name=table_name)

    def postgres(b: PostgresBackend) -> MemoryTenantStore | SQLiteTenantStore | PostgresTenantStore:
        return PostgresTenantStore(b, table_name)

    return open_store(url, memory=MemoryTenantStore, sqlite=sqlite, postgres=postgres)


def open_kv_store(
    url: str | Backend, *, table_name: str = "kv_store"
) -> MemoryKeyValueStore | SQLiteKeyValueStore | PostgresKeyValueStore:
    """The key-value store on ``url`` or on an open backend (sharing it); connects at first use."""
    def sqlite(b: SQLiteBackend) -> MemoryKeyValueStore | SQLiteKeyValueStore | PostgresKeyValueStore:
        return SQLiteKeyValueStore(b, table_name=table_name)

    def postgres(b: PostgresBackend) -> MemoryKeyValueStore | SQLiteKeyValueStore | PostgresKeyValueStore:
        return PostgresKeyValueStore(b, table_name)

    return open_store(url, memory=MemoryKeyValueStore, sqlite=sqlite, postgres=postgres)
