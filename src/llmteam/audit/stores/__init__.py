"""Audit store backends: ``MemoryAuditStore`` (per process), ``SQLiteAuditStore`` (embedded default, durable)
and ``PostgresAuditStore`` (shared server), all implementing :class:`llmteam.audit.AuditStore`.

``open_audit_store(url)`` picks one from a store URL: ``memory://``, ``sqlite:///path.db`` or
``postgresql://user@host/db``, or from an open :class:`llmteam.backends.Backend`, whose SQLite writer thread or
asyncpg pool the store then shares. A store for a new database subclasses :class:`llmteam.audit.AuditStoreBase`.
"""

from __future__ import annotations

from llmteam.audit.stores._memory import MemoryAuditStore
from llmteam.audit.stores._postgres import PostgresAuditStore
from llmteam.audit.stores._sqlite import SQLiteAuditStore
from llmteam.backends import Backend, PostgresBackend, SQLiteBackend, open_store, parse_store_url
from llmteam.backends.postgres import PgPool

__all__ = ["MemoryAuditStore", "PostgresAuditStore", "SQLiteAuditStore", "open_audit_store"]


def open_audit_store(
    url: str | Backend, *, pool: PostgresBackend | PgPool | None = None, table_name: str = "audit_log"
) -> MemoryAuditStore | SQLiteAuditStore | PostgresAuditStore:
    """The audit store on ``url`` or on an open backend (sharing it); a PostgreSQL ``pool`` may be passed instead."""
    if pool is not None:
        parse_store_url(str(url), allowed=("postgresql",))
        return PostgresAuditStore(pool, table_name)

    def sqlite(b: SQLiteBackend) -> MemoryAuditStore | SQLiteAuditStore | PostgresAuditStore:
        return SQLiteAuditStore(b, table_name=table_name)

    def postgres(b: PostgresBackend) -> MemoryAuditStore | SQLiteAuditStore | PostgresAuditStore:
        return PostgresAuditStore(b, table_name)

    return open_store(url, memory=MemoryAuditStore, sqlite=sqlite, postgres=postgres)
