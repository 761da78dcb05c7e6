"""Audit store backends: ``MemoryAuditStore`` (per process), ``SQLiteAuditStore`` (embedded default, durable)
and ``PostgresAuditStore`` (shared server), all implementing :class:`llmteam.audit.AuditStore`.

``open_audit_store(url)`` picks one from a store URL: ``memory://``, ``sqlite:///path.db`` or
``postgresql://user@host/db`` (the asyncpg pool is then created at first use).
"""

from __future__ import annotations

from typing import Any

from llmteam.audit.stores._memory import MemoryAuditStore
from llmteam.audit.stores._postgres import PostgresAuditStore
from llmteam.audit.stores._sqlite import SQLiteAuditStore
from llmteam.backends.url import parse_store_url

__all__ = ["MemoryAuditStore", "PostgresAuditStore", "SQLiteAuditStore", "open_audit_store"]


def open_audit_store(url: str, *, pool: Any = None, table_name: str = "audit_log") -> Any:
    """An audit store for ``url``; for PostgreSQL an existing asyncpg ``pool`` may be passed instead of creating one."""
    parsed = parse_store_url(url, allowed=("memory", "sqlite", "postgresql"))
    if parsed.scheme == "memory":
        return MemoryAuditStore()
    if parsed.scheme == "sqlite":
        return SQLiteAuditStore(parsed.path, table_name=table_name)
    return PostgresAuditStore(pool, table_name, dsn=None if pool is not None else parsed.dsn)
