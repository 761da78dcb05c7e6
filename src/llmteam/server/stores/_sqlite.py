"""API keys in the runtime's SQLite file (table ``api_keys``), durable on return."""

from __future__ import annotations

import sqlite3

from llmteam.backends.sqlite import SQLiteDatabase, open_sqlite, release_sqlite
from llmteam.server._keys import ApiKey
from llmteam.server._store import KeyExistsError, KeyStore
from llmteam.server.stores._sql import SQL, ddl, key_to_row, row_to_key

_SQL = SQL["qmark"]


class SQLiteKeyStore(KeyStore):
    """Keys in a SQLite file shared with the other stores of ``sqlite:///...``."""

    def __init__(self, db: SQLiteDatabase | str) -> None:
        self.db = open_sqlite(db)  # the file's shared backend: one writer thread whatever stores are open
        self._released = False

    async def _ready(self) -> None:
        await self.db.ensure_schema("api_keys", [ddl("REAL")])

    async def add(self, key: ApiKey) -> None:
        await self._ready()

        def txn(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(_SQL["insert"], key_to_row(key))
            except sqlite3.IntegrityError:
                raise KeyExistsError(f"API key id {key.key_id!r} already exists") from None

        await self.db.write(txn)

    async def get(self, key_id: str) -> ApiKey | None:
        await self._ready()
        row = await self.db.read(
            lambda conn: conn.execute(_SQL["get"], (key_id,)).fetchone()
        )
        return None if row is None else row_to_key(row)

    async def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        await self._ready()
        rows = await self.db.read_in_thread(
            lambda conn: conn.execute(_SQL["list"], (tenant_id, tenant_id)).fetchall()
        )
        return [row_to_key(r) for r in rows]

    async def revoke(self, key_id: str, at: float) -> ApiKey | None:
        await self._ready()

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute(_SQL["revoke"], (at, key_id))

        await self.db.write(txn)
        return await self.get(key_id)

    async def ping(self) -> None:
        await self._ready()
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await release_sqlite(self.db)
