"""One TenantStore contract, run against every backend: memory, SQLite (tmp file) and PostgreSQL (pg_pool)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from llmteam.tenancy import TenantAlreadyExistsError, TenantConfig, TenantNotFoundError, TenantStore, TenantTier
from llmteam.tenancy.stores import (
    POSTGRES_SCHEMA,
    MemoryTenantStore,
    PostgresTenantStore,
    SQLiteTenantStore,
    open_tenant_store,
)


@pytest.fixture
def tenant_factory(store_backend: str, backend_pg_pool: Any, tmp_path: Path) -> tuple[str, Callable[[], Any]]:
    if store_backend == "memory":
        return store_backend, MemoryTenantStore
    if store_backend == "sqlite":
        return store_backend, lambda: SQLiteTenantStore(tmp_path / "tenants.db")
    return store_backend, lambda: PostgresTenantStore(backend_pg_pool)


@pytest.fixture
async def store(tenant_factory: tuple[str, Callable[[], Any]]) -> AsyncIterator[Any]:
    s = tenant_factory[1]()
    yield s
    await s.close()


def _config(tenant_id: str = "acme", **kw: Any) -> TenantConfig:
    return TenantConfig(tenant_id, kw.pop("name", "Acme Corp"), **kw)


async def test_is_a_tenant_store(store: Any) -> None:
    assert isinstance(store, TenantStore)


async def test_create_get_round_trips_every_field(store: Any) -> None:
    config = TenantConfig(
        "acme", "Acme", TenantTier.PROFESSIONAL, 0, 7, None, {"x"}, {"persistence"}, {"run"}, {"rm"},
        "eu-west", "kms-1", 30, {"nested": {"a": [1, 2]}, "nul": "\x00"},
        datetime(2024, 1, 2, 3, 4, 5), datetime(2024, 2, 3, 4, 5, 6), False,
    )
    await store.create(config)
    got = await store.get("acme")
    assert got == config and got is not config
    assert await store.get("nobody") is None


async def test_copies_in_and_out(store: Any) -> None:
    config = _config(metadata={"k": [1]})
    await store.create(config)
    config.name = "changed after create"
    config.metadata["k"].append(2)
    got = await store.get("acme")
    assert got.name == "Acme Corp" and got.metadata == {"k": [1]}
    got.features_enabled.add("mutated")
    assert (await store.get("acme")).features_enabled == set()


async def test_duplicate_create_raises_and_keeps_original(store: Any) -> None:
    await store.create(_config(name="first"))
    with pytest.raises(TenantAlreadyExistsError, match="acme"):
        await store.create(_config(name="second"))
    assert (await store.get("acme")).name == "first"


async def test_update(store: Any) -> None:
    await store.create(_config())
    await store.update(_config(tier=TenantTier.ENTERPRISE, name="Acme 2"))
    got = await store.get("acme")
    assert got.tier is TenantTier.ENTERPRISE and got.name == "Acme 2"
    with pytest.raises(TenantNotFoundError, match="ghost"):
        await store.update(_config("ghost"))
    assert await store.get("ghost") is None


async def test_delete_makes_tenant_invisible_and_id_reusable(store: Any) -> None:
    await store.create(_config())
    await store.create(_config("other"))
    assert await store.delete("acme") is True
    assert await store.get("acme") is None
    assert [c.tenant_id for c in await store.list()] == ["other"]
    assert await store.count() == 1
    assert await store.delete("acme") is False
    with pytest.raises(TenantNotFoundError):
        await store.update(_config())
    await store.create(_config(name="reborn"))
    assert (await store.get("acme")).name == "reborn"


async def test_list_pages_in_id_order(store: Any) -> None:
    for i in (3, 1, 4, 0, 2):
        await store.create(_config(f"t{i}"))
    assert [c.tenant_id for c in await store.list()] == ["t0", "t1", "t2", "t3", "t4"]
    assert [c.tenant_id for c in await store.list(limit=2, offset=1)] == ["t1", "t2"]
    assert await store.list(limit=0) == []
    with pytest.raises(ValueError, match="-1"):
        await store.list(limit=-1)


async def test_invalid_config_writes_nothing(store: Any) -> None:
    config = _config()
    config.max_agents_per_pipeline = -3
    with pytest.raises(ValueError, match="max_agents_per_pipeline"):
        await store.create(config)
    assert await store.get("acme") is None
    config = _config()
    config.tier = "gold"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="gold"):
        await store.create(config)
    assert await store.count() == 0


async def test_unserialisable_metadata_writes_nothing(tenant_factory: tuple[str, Any], store: Any) -> None:
    if tenant_factory[0] == "memory":
        pytest.skip("the memory store keeps Python objects")
    with pytest.raises(TypeError, match="acme"):
        await store.create(_config(metadata={"x": object()}))
    assert await store.count() == 0


async def test_durable_store_survives_reopen(tenant_factory: tuple[str, Callable[[], Any]], store: Any) -> None:
    if tenant_factory[0] == "memory":
        pytest.skip("memory does not persist")
    await store.create(_config(tier=TenantTier.STARTER))
    await store.close()
    again = tenant_factory[1]()
    try:
        assert (await again.get("acme")).tier is TenantTier.STARTER
    finally:
        await again.close()


async def test_open_by_url(tmp_path: Path) -> None:
    assert isinstance(open_tenant_store("memory://"), MemoryTenantStore)
    store = open_tenant_store(f"sqlite:///{tmp_path}/t.db")
    assert isinstance(store, SQLiteTenantStore)
    await store.create(_config())
    await store.close()
    with pytest.raises(ValueError, match="ftp"):
        open_tenant_store("ftp://x")


def test_postgres_schema_is_ddl_for_default_tables() -> None:
    assert "CREATE TABLE IF NOT EXISTS tenants" in POSTGRES_SCHEMA
    assert "CREATE TABLE IF NOT EXISTS kv_store" in POSTGRES_SCHEMA
    assert "deleted_at" in POSTGRES_SCHEMA


def test_postgres_store_needs_pool_or_dsn() -> None:
    with pytest.raises(ValueError, match="pool"):
        PostgresTenantStore()
    with pytest.raises(ValueError, match="Tenants"):
        PostgresTenantStore(object(), table_name="Tenants")


@pytest.mark.postgres
async def test_postgres_soft_delete_keeps_row(pg_pool: Any) -> None:
    store = PostgresTenantStore(pg_pool, table_name="tenant_rows")
    await store.create(_config())
    await store.delete("acme")
    assert await store.get("acme") is None
    assert await pg_pool.fetchval("SELECT COUNT(*) FROM tenant_rows WHERE deleted_at IS NOT NULL") == 1
