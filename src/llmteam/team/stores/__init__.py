"""Run store backends: ``MemoryRunStore``, ``SQLiteRunStore`` and ``PostgresRunStore``.

Each subclasses :class:`llmteam.team.RunStore`; :func:`open_run_store` picks one for a URL or an open backend.
"""

from __future__ import annotations

from llmteam.backends import Backend, open_store
from llmteam.team._store import RunStore
from llmteam.team.stores._memory import MemoryRunStore
from llmteam.team.stores._postgres import PostgresRunStore
from llmteam.team.stores._sqlite import SQLiteRunStore

__all__ = ["MemoryRunStore", "PostgresRunStore", "SQLiteRunStore", "open_run_store"]


def open_run_store(url: str | Backend) -> RunStore:
    """The run store on ``url`` or on an open backend (sharing it); connects at first use."""
    return open_store(url, memory=MemoryRunStore, sqlite=SQLiteRunStore, postgres=PostgresRunStore)
