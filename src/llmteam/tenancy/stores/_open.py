"""Open a store from a URL: the one place that maps ``memory://``, ``sqlite:///...`` and ``postgresql://...``."""

from __future__ import annotations

from llmteam.backends import Backend, PostgresBackend, SQLiteBackend, backend_of
from llmteam.tenancy.stores._memory import MemoryKeyValueStore, MemoryTenantStore
from llmteam.tenancy.stores._postgres import PostgresKeyValueStore, PostgresTenantStore
from llmteam.tenancy.stores._sqlite import SQLiteKeyValueStore, SQLiteTenantStore

_ALLOWED = ("memory", "sqlite", "postgresql")


def open_tenant_store(
    url: str | Backend, *, table_name: str = "tenants"
) -> MemoryTenantStore | SQLiteTenantStore | PostgresTenantStore:
    """The tenant store on ``url`` or on an open backend (sharing it); connects at first use."""
    backend = backend_of(url, _ALLOWED)
    try:
        if isinstance(backend, SQLiteBackend):
            return SQLiteTenantStore(backend, table_name=table_name)
        if isinstance(backend, PostgresBackend):
            return PostgresTenantStore(backend, table_name)
        return MemoryTenantStore()
    finally:
        backend.handoff()


def open_kv_store(
    url: str | Backend, *, table_name: str = "kv_store"
) -> MemoryKeyValueStore | SQLiteKeyValueStore | PostgresKeyValueStore:
    """The key-value store on ``url`` or on an open backend (sharing it); connects at first use."""
    backend = backend_of(url, _ALLOWED)
    try:
        if isinstance(backend, SQLiteBackend):
            return SQLiteKeyValueStore(backend, table_name=table_name)
        if isinstance(backend, PostgresBackend):
            return PostgresKeyValueStore(backend, table_name)
        return MemoryKeyValueStore()
    finally:
        backend.handoff()
