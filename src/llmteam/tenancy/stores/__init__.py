"""Tenant and key-value store backends, chosen by URL.

- ``MemoryTenantStore`` / ``MemoryKeyValueStore``: in-process dicts (tests, single process).
- ``SQLiteTenantStore(path)`` / ``SQLiteKeyValueStore(path)``: the embedded durable default (WAL,
  ``synchronous=FULL``: a write that returned survives a crash or power loss).
- ``PostgresTenantStore(pool, table_name="tenants")`` / ``PostgresKeyValueStore(pool, table_name="kv_store")``:
  shared by many processes (extra ``postgres``; asyncpg is imported at first use). Pass ``dsn=`` instead of a
  pool to let the store open (and ``close()``) its own. ``POSTGRES_SCHEMA`` is the DDL they run.
- ``open_tenant_store(url)`` / ``open_kv_store(url)``: ``memory://``, ``sqlite:///path.db``,
  ``postgresql://user:pw@host/db``, or an open :class:`llmteam.backends.Backend` (the stores share its SQLite
  writer thread / asyncpg pool). A store for a new database subclasses ``TenantStoreBase`` / ``KeyValueStoreBase``.

Durable key-value stores hold JSON documents (a value that is not JSON raises TypeError naming the key; nothing
is written), and add ``get_many``, ``set_many`` (one transaction) and ``delete_many``. Every store has
``async close()`` and ``count()``.
"""

from llmteam.tenancy.stores._memory import MemoryKeyValueStore, MemoryTenantStore
from llmteam.tenancy.stores._open import open_kv_store, open_tenant_store
from llmteam.tenancy.stores._postgres import POSTGRES_SCHEMA, PostgresKeyValueStore, PostgresTenantStore
from llmteam.tenancy.stores._sqlite import SQLiteKeyValueStore, SQLiteTenantStore

__all__ = [
    "POSTGRES_SCHEMA",
    "MemoryKeyValueStore",
    "MemoryTenantStore",
    "PostgresKeyValueStore",
    "PostgresTenantStore",
    "SQLiteKeyValueStore",
    "SQLiteTenantStore",
    "open_kv_store",
    "open_tenant_store",
]
