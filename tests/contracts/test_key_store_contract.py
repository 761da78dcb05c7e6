"""One KeyStore contract, run against every backend: memory, SQLite (tmp file) and PostgreSQL (pg_pool)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from llmteam.server import ApiKey
from llmteam.server.stores import (
    KeyExistsError,
    KeyStore,
    MemoryKeyStore,
    PostgresKeyStore,
    SQLiteKeyStore,
    open_key_store,
)


@pytest.fixture
async def store(store_backend: str, backend_pg_pool: Any, tmp_path: Path) -> AsyncIterator[KeyStore]:
    s: KeyStore
    if store_backend == "memory":
        s = MemoryKeyStore()
    elif store_backend == "sqlite":
        s = SQLiteKeyStore(str(tmp_path / "keys.db"))
    else:
        s = PostgresKeyStore(backend_pg_pool)
    yield s
    await s.close()


def _key(key_id: str = "0123456789ab", tenant: str = "acme", **kw: Any) -> ApiKey:
    return ApiKey(key_id, tenant, "d" * 64, frozenset({"runs:read", "audit:read"}), created_at=kw.pop("at", 100.0),
                  **kw)


async def test_add_get_round_trips_every_field(store: KeyStore) -> None:
    key = ApiKey("0123456789ab", "acme", "a" * 64, frozenset({"runs:read"}), True, 1.5, 99.25, None, "ci", "cli:bob")
    await store.add(key)
    assert await store.get("0123456789ab") == key
    assert await store.get("ffffffffffff") is None
    await store.ping()


async def test_add_never_overwrites(store: KeyStore) -> None:
    await store.add(_key())
    with pytest.raises(KeyExistsError):
        await store.add(_key(tenant="globex"))
    got = await store.get("0123456789ab")
    assert got is not None and got.tenant_id == "acme"


async def test_list_by_tenant_oldest_first(store: KeyStore) -> None:
    await store.add(_key("00000000000b", at=2.0))
    await store.add(_key("00000000000a", at=1.0))
    await store.add(_key("00000000000c", tenant="globex", at=3.0))
    assert [k.key_id for k in await store.list("acme")] == ["00000000000a", "00000000000b"]
    assert [k.key_id for k in await store.list()] == ["00000000000a", "00000000000b", "00000000000c"]
    assert await store.list("nobody") == []


async def test_revoke_sets_the_time_once(store: KeyStore) -> None:
    await store.add(_key())
    first = await store.revoke("0123456789ab", 10.0)
    assert first is not None and first.revoked_at == 10.0 and first.state() == "revoked"
    again = await store.revoke("0123456789ab", 20.0)
    assert again is not None and again.revoked_at == 10.0
    assert await store.revoke("ffffffffffff", 1.0) is None


async def test_copies_in_and_out(store: KeyStore) -> None:
    key = _key()
    await store.add(key)
    key.tenant_id = "changed"
    got = await store.get(key.key_id)
    assert got is not None and got.tenant_id == "acme"
    got.revoked_at = 5.0
    again = await store.get(key.key_id)
    assert again is not None and again.revoked_at is None


def test_open_key_store_by_url(tmp_path: Path) -> None:
    assert isinstance(open_key_store("memory://"), MemoryKeyStore)
    assert isinstance(open_key_store(f"sqlite:///{tmp_path}/k.db"), SQLiteKeyStore)
    assert isinstance(open_key_store("postgresql://u@h/db"), PostgresKeyStore)
    with pytest.raises(ValueError, match="redis"):
        open_key_store("redis://localhost")
