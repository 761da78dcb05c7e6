"""API key stores: memory, SQLite (the embedded default) and PostgreSQL, chosen by the runtime's URL."""

from llmteam._backends.url import parse_store_url
from llmteam.server.stores._base import KeyExistsError, KeyStore
from llmteam.server.stores._memory import MemoryKeyStore
from llmteam.server.stores._postgres import PostgresKeyStore
from llmteam.server.stores._sqlite import SQLiteKeyStore


def open_key_store(url: str) -> KeyStore:
    """A key store for ``memory://``, ``sqlite:///path.db`` or ``postgresql://...`` (connects at first use)."""
    parsed = parse_store_url(url, allowed=("memory", "sqlite", "postgresql"))
    if parsed.scheme == "memory":
        return MemoryKeyStore()
    if parsed.scheme == "sqlite":
        return SQLiteKeyStore(parsed.path)
    return PostgresKeyStore(dsn=parsed.dsn)


__all__ = ["KeyExistsError", "KeyStore", "MemoryKeyStore", "PostgresKeyStore", "SQLiteKeyStore", "open_key_store"]
