from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from llmteam.licensing import FeatureNotLicensedError, LicenseManager, LicenseTier
from llmteam.tenancy import (
    TenantAlreadyExistsError,
    TenantConfig,
    TenantContext,
    TenantFeatureDisabledError,
    TenantLimitExceededError,
    TenantManager,
    TenantNotFoundError,
    TenantTier,
    get_current_tenant,
)
from llmteam.tenancy.stores import MemoryTenantStore, SQLiteTenantStore


class CountingStore(MemoryTenantStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, tenant_id: str) -> TenantConfig | None:
        self.gets += 1
        return await super().get(tenant_id)


async def test_attributes_and_crud(tenant_manager: TenantManager) -> None:
    assert tenant_manager.cache_enabled is True and tenant_manager.cache_ttl is None
    config = TenantConfig("acme", "Acme")
    created = await tenant_manager.create_tenant(config)
    assert created.created_at is not None and created.updated_at == created.created_at
    with pytest.raises(TenantAlreadyExistsError, match="acme"):
        await tenant_manager.create_tenant(TenantConfig("acme", "Again"))
    got = await tenant_manager.get_tenant("acme")
    assert got.name == "Acme"
    got.tier = TenantTier.ENTERPRISE
    await tenant_manager.update_tenant(got)
    assert (await tenant_manager.get_tenant("acme")).tier is TenantTier.ENTERPRISE
    assert [c.tenant_id for c in await tenant_manager.list_tenants()] == ["acme"]
    await tenant_manager.delete_tenant("acme")
    with pytest.raises(TenantNotFoundError, match="acme"):
        await tenant_manager.get_tenant("acme")
    with pytest.raises(TenantNotFoundError):
        await tenant_manager.delete_tenant("acme")
    with pytest.raises(TenantNotFoundError):
        await tenant_manager.update_tenant(TenantConfig("ghost", "G"))


async def test_copies_in_and_out(tenant_manager: TenantManager) -> None:
    config = TenantConfig("acme", "Acme", features_enabled={"a"})
    await tenant_manager.create_tenant(config)
    config.features_enabled.add("leak")
    got = await tenant_manager.get_tenant("acme")
    assert got.features_enabled == {"a"}
    got.features_enabled.add("leak")
    got.max_concurrent_pipelines = 0
    assert (await tenant_manager.get_tenant("acme")).features_enabled == {"a"}
    assert await tenant_manager.check_limit("acme", "concurrent_pipelines", 0)
    await tenant_manager.update_tenant(got)
    assert not await tenant_manager.check_limit("acme", "concurrent_pipelines", 0)
    assert "leak" in (await tenant_manager.get_tenant("acme")).features_enabled


async def test_limits_and_features(tenant_manager: TenantManager) -> None:
    await tenant_manager.create_tenant(TenantConfig("acme", "Acme", TenantTier.STARTER, max_requests_per_minute=0))
    assert await tenant_manager.check_limit("acme", "concurrent_pipelines", 1)
    assert not await tenant_manager.check_limit("acme", "concurrent_pipelines", 2)
    assert not await tenant_manager.check_limit("acme", "requests_per_minute", 0)  # 0 is a real override
    assert await tenant_manager.check_limit("acme", "runs_per_day", 999)
    assert await tenant_manager.check_limit("acme", "agents_per_pipeline", 9)
    assert await tenant_manager.check_limit("acme", "no_such_limit", 10**9)
    await tenant_manager.enforce_limit("acme", "concurrent_pipelines", 1)
    with pytest.raises(TenantLimitExceededError) as info:
        await tenant_manager.enforce_limit("acme", "concurrent_pipelines", 2)
    assert (info.value.tenant_id, info.value.limit_type, info.value.current, info.value.maximum) == (
        "acme", "concurrent_pipelines", 2, 2,
    )
    assert await tenant_manager.check_feature("acme", "parallel_execution")
    assert not await tenant_manager.check_feature("acme", "sso")
    await tenant_manager.require_feature("acme", "basic_agents")
    with pytest.raises(TenantFeatureDisabledError) as feat:
        await tenant_manager.require_feature("acme", "sso")
    assert (feat.value.tenant_id, feat.value.feature) == ("acme", "sso")
    with pytest.raises(TenantNotFoundError):
        await tenant_manager.check_limit("ghost", "concurrent_pipelines", 0)
    limits = tenant_manager.get_limits(TenantConfig("x", "X", TenantTier.PROFESSIONAL))
    assert limits.max_concurrent_pipelines == 10


async def test_inactive_tenant_has_nothing(tenant_manager: TenantManager) -> None:
    await tenant_manager.create_tenant(TenantConfig("off", "Off", TenantTier.ENTERPRISE, is_active=False))
    for limit in ("concurrent_pipelines", "agents_per_pipeline", "requests_per_minute", "runs_per_day", "other"):
        assert not await tenant_manager.check_limit("off", limit, 0)
        with pytest.raises(TenantLimitExceededError):
            await tenant_manager.enforce_limit("off", limit, 0)
    assert not await tenant_manager.check_feature("off", "basic_agents")
    with pytest.raises(TenantFeatureDisabledError):
        await tenant_manager.require_feature("off", "basic_agents")
    limits = tenant_manager.get_limits(await tenant_manager.get_tenant("off"))
    assert limits.max_runs_per_day == 0 and limits.features == set()


async def test_cache_serves_repeated_reads_and_invalidation() -> None:
    store = CountingStore()
    manager = TenantManager(store)
    await manager.create_tenant(TenantConfig("acme", "Acme"))
    before = store.gets
    for _ in range(5):
        await manager.check_limit("acme", "concurrent_pipelines", 0)
        await manager.get_tenant("acme")
    assert store.gets == before
    manager.invalidate_cache("acme")
    await manager.get_tenant("acme")
    assert store.gets == before + 1
    manager.invalidate_cache()
    await manager.get_tenant("acme")
    assert store.gets == before + 2

    uncached = TenantManager(store, cache_enabled=False)
    n = store.gets
    await uncached.get_tenant("acme")
    await uncached.get_tenant("acme")
    assert store.gets == n + 2


async def test_preload_and_context() -> None:
    manager = TenantManager(MemoryTenantStore())
    config = TenantConfig("pre", "Pre", TenantTier.PROFESSIONAL)
    manager.preload_cache([config])
    config.tier = TenantTier.FREE
    assert await manager.check_feature("pre", "persistence")
    ctx = manager.context("pre")
    assert isinstance(ctx, TenantContext)
    assert ctx.get_config() is not None and ctx.get_config().tier is TenantTier.PROFESSIONAL  # type: ignore[union-attr]
    with ctx:
        assert get_current_tenant() == "pre"
    async with manager.context("unknown") as other:
        assert other.get_config() is None and get_current_tenant() == "unknown"


async def test_cache_is_bounded() -> None:
    manager = TenantManager(MemoryTenantStore(), max_cache_entries=3)
    manager.preload_cache(TenantConfig(f"t{i}", "T") for i in range(10))
    assert len(manager._cache) == 3


async def test_ttl_lets_a_second_process_see_a_tier_change(tmp_path: Path) -> None:
    path = tmp_path / "tenants.db"
    store_a, store_b = SQLiteTenantStore(path), SQLiteTenantStore(path)
    try:
        a = TenantManager(store_a)
        b = TenantManager(store_b, cache_ttl=0.05)
        stale = TenantManager(store_b)  # no TTL: keeps its cached copy
        await a.create_tenant(TenantConfig("acme", "Acme", TenantTier.FREE))
        assert not await b.check_feature("acme", "parallel_execution")
        assert not await stale.check_feature("acme", "parallel_execution")
        config = await a.get_tenant("acme")
        config.tier = TenantTier.STARTER
        await a.update_tenant(config)
        await asyncio.sleep(0.08)
        assert await b.check_feature("acme", "parallel_execution")
        assert (await b.get_tenant("acme")).tier is TenantTier.STARTER
        assert not await stale.check_feature("acme", "parallel_execution")
        await a.delete_tenant("acme")
        await asyncio.sleep(0.08)
        with pytest.raises(TenantNotFoundError):
            await b.get_tenant("acme")
    finally:
        await store_a.close()
        await store_b.close()


def test_bad_arguments() -> None:
    for bad in (-1, float("nan"), True):
        with pytest.raises(ValueError, match="cache_ttl"):
            TenantManager(MemoryTenantStore(), cache_ttl=bad)
    with pytest.raises(ValueError, match="max_cache_entries"):
        TenantManager(MemoryTenantStore(), max_cache_entries=0)


async def test_invalid_config_is_refused_and_nothing_stored(tenant_manager: TenantManager) -> None:
    config = TenantConfig("acme", "Acme")
    config.max_agents_per_pipeline = -1
    with pytest.raises(ValueError, match="max_agents_per_pipeline"):
        await tenant_manager.create_tenant(config)
    assert await tenant_manager.list_tenants() == []


def test_licence_gate_is_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    TenantManager(MemoryTenantStore())  # community tier, enforcement off: constructs
    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")
    with pytest.raises(FeatureNotLicensedError) as info:
        TenantManager(MemoryTenantStore())
    assert info.value.required_tier is LicenseTier.ENTERPRISE
    LicenseManager._instance = LicenseManager(tier=LicenseTier.ENTERPRISE)  # type: ignore[attr-defined]
    manager: Any = TenantManager(MemoryTenantStore())
    assert manager.cache_enabled
