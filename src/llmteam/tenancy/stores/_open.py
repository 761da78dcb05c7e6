"""Open a store from a URL: the one place that maps ``memory://``, ``sqlite:///...`` and ``postgresql://...``."""

from __future__ import annotations

from typing import Any

from llmteam.backends.url import parse_store_url
from llmteam.tenancy.stores._memory import MemoryKeyValueStore, MemoryTenantStore
from llmteam.tenancy.stores._postgres import PostgresKeyValueStore, PostgresTenantStore
from llmteam.tenancy.stores._sqlite import SQLiteKeyValueStore, SQLiteTenantStore

_ALLOWED = ("memory", "sqlite", "postgresql")


def open_tenant_store(url: str, *, table_name: str = "tenants") -> Any:
    """A tenant store for ``url``; no connection is made until first use (close it with ``await store.close()``)."""
    parsed = parse_store_url(url, allowed=_ALLOWED)
    if parsed.scheme == "memory":
        return MemoryTenantStore()
    if parsed.scheme == "sqlite":
        return SQLiteTenantStore(parsed.path, table_name=table_name)
    return PostgresTenantStore(table_name=table_name, dsn=parsed.dsn)


def open_kv_store(url: str, *, table_name: str = "kv_store") -> Any:
    """A key-value store for ``url``; no connection is made until first use (close it with ``await store.close()``)."""
    parsed = parse_store_url(url, allowed=_ALLOWED)
    if parsed.scheme == "memory":
        return MemoryKeyValueStore()
    if parsed.scheme == "sqlite":
        return SQLiteKeyValueStore(parsed.path, table_name=table_name)
    return PostgresKeyValueStore(table_name=table_name, dsn=parsed.dsn)
