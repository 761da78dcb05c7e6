from __future__ import annotations

from pathlib import Path

import pytest

from llmteam.tenancy.stores import (
    PostgresKeyValueStore,
    PostgresTenantStore,
    SQLiteKeyValueStore,
    SQLiteTenantStore,
    open_kv_store,
    open_tenant_store,
)


def test_urls_map_to_stores_without_connecting(tmp_path: Path) -> None:
    kv = open_kv_store(f"sqlite:///{tmp_path}/a.db", table_name="kv2")
    assert isinstance(kv, SQLiteKeyValueStore) and kv.table_name == "kv2"
    assert kv.path == str(tmp_path / "a.db")
    assert isinstance(open_tenant_store(f"sqlite:///{tmp_path}/a.db"), SQLiteTenantStore)
    pg = open_kv_store("postgresql://u:p@127.0.0.1:1/db")
    assert isinstance(pg, PostgresKeyValueStore) and not pg.backend.connected
    assert isinstance(open_tenant_store("postgres://u@127.0.0.1:1/db"), PostgresTenantStore)


@pytest.mark.parametrize("url", ["", "redis://localhost", "mysql://x", "sqlite://rel.db"])
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        open_kv_store(url)
    with pytest.raises(ValueError):
        open_tenant_store(url)


async def test_unreachable_postgres_names_the_server() -> None:
    store = open_kv_store("postgresql://u:secret@127.0.0.1:1/db")
    with pytest.raises(ConnectionError, match="127.0.0.1") as info:
        await store.get("k")
    assert "secret" not in str(info.value)
