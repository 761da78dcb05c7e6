"""Process-event log backends: memory (``_memory``), SQLite (``_sqlite``), PostgreSQL (``_postgres``).

:func:`open_event_log` is the one place that picks a log for a URL or an open backend.
"""

from __future__ import annotations

from llmteam.backends import Backend, PostgresBackend, SQLiteBackend, open_store, validate_identifier
from llmteam.backends.postgres import PgPool
from llmteam.roles._event_log import DEFAULT_TABLE, EventLogBase
from llmteam.roles.stores._memory import MemoryEventLog
from llmteam.roles.stores._postgres import PostgresEventLog
from llmteam.roles.stores._sqlite import SQLiteEventLog

__all__ = ["MemoryEventLog", "PostgresEventLog", "SQLiteEventLog", "open_event_log"]

MEMORY_MAX_EVENTS = 100_000  # memory:// keeps the newest process events only


def open_event_log(
    url: str | Backend, *, table_name: str = DEFAULT_TABLE, pool: PostgresBackend | PgPool | None = None
) -> EventLogBase:
    """The process-event log on ``url`` (memory://, sqlite:///path, postgresql://...) or an open backend."""
    validate_identifier(table_name, "event log table name", suffixes=("_case_order",))
    if pool is not None:
        return PostgresEventLog(pool=pool, table_name=table_name)

    def sqlite(b: SQLiteBackend) -> EventLogBase:
        return SQLiteEventLog(b, table_name=table_name)

    def postgres(b: PostgresBackend) -> EventLogBase:
        return PostgresEventLog(pool=b, table_name=table_name)

    def memory() -> EventLogBase:
        return MemoryEventLog(max_events=MEMORY_MAX_EVENTS)

    return open_store(url, memory=memory, sqlite=sqlite, postgres=postgres)
