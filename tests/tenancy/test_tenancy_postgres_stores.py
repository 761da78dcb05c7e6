from __future__ import annotations

from typing import Any

import pytest

from llmteam.tenancy import TenantConfig, TenantContext, TenantIsolatedStore, TenantManager, TenantTier
from llmteam.tenancy.stores import PostgresKeyValueStore, PostgresTenantStore

pytestmark = pytest.mark.postgres


async def test_custom_tables_schema_version_and_wildcards(pg_pool: Any) -> None:
    kv = PostgresKeyValueStore(pg_pool, table_name="kv_custom")
    await kv.set_many({"a%b": 1, "axb": 2, "a_": 3, "ab": 4})
    assert await kv.list("a%") == ["a%b"]
    assert await kv.list("a_") == ["a_"]
    versions = dict(await pg_pool.fetch("SELECT component, version FROM schema_version"))
    assert versions == {"tenancy.kv.kv_custom": 1}
    raw = await pg_pool.fetchval("SELECT value::text FROM kv_custom WHERE key = 'ab'")
    assert raw == "4"


async def test_two_managers_share_tenants_through_postgres(pg_pool: Any) -> None:
    a = TenantManager(PostgresTenantStore(pg_pool))
    b = TenantManager(PostgresTenantStore(pg_pool), cache_ttl=0)
    await a.create_tenant(TenantConfig("acme", "Acme"))
    assert not await b.check_feature("acme", "persistence")
    config = await a.get_tenant("acme")
    config.tier = TenantTier.PROFESSIONAL
    await a.update_tenant(config)
    assert await b.check_feature("acme", "persistence")


async def test_isolated_store_on_postgres(pg_pool: Any) -> None:
    store = TenantIsolatedStore(PostgresKeyValueStore(pg_pool))
    with TenantContext("a"):
        await store.set_many({"k1": 1, "k2": 2})
    with TenantContext("b"):
        assert await store.list() == [] and await store.get("k1") is None
        assert await store.clear_tenant() == 0
    with TenantContext("a"):
        assert await store.clear_tenant() == 2


async def test_dsn_store_creates_pool_lazily(pg_schema_url: str) -> None:
    store = PostgresTenantStore(dsn=pg_schema_url)
    assert not store.backend.connected
    async with store:
        await store.create(TenantConfig("a", "A"))
        assert (await store.get("a")).name == "A"  # type: ignore[union-attr]
    assert not store.backend.connected
