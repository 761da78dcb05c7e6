"""API key stores: memory, SQLite (the embedded default) and PostgreSQL, chosen by the runtime's URL."""

from llmteam.backends import Backend, open_store
from llmteam.server._store import KeyExistsError, KeyStore
from llmteam.server.stores._memory import MemoryKeyStore
from llmteam.server.stores._postgres import PostgresKeyStore
from llmteam.server.stores._sqlite import SQLiteKeyStore


def open_key_store(url: str | Backend) -> KeyStore:
    """The key store on ``url`` (``memory://``, ``sqlite:///path.db``, ``postgresql://...``) or on an open backend
    (sharing it); connects at first use."""
    return open_store(url, memory=MemoryKeyStore, sqlite=SQLiteKeyStore, postgres=PostgresKeyStore)


__all__ = ["KeyExistsError", "KeyStore", "MemoryKeyStore", "PostgresKeyStore", "SQLiteKeyStore", "open_key_store"]
