"""Acceptance tests for API contract §3 (llmteam.tenancy), written from the contract text only."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

import llmteam.tenancy as ten
from llmteam.tenancy import (
    TIER_LIMITS,
    CrossTenantStore,
    KeyValueStore,
    TenantAlreadyExistsError,
    TenantConfig,
    TenantContext,
    TenantContextError,
    TenantContextStack,
    TenantError,
    TenantFeatureDisabledError,
    TenantIsolatedStore,
    TenantLimitExceededError,
    TenantLimits,
    TenantManager,
    TenantNotFoundError,
    TenantStore,
    TenantTier,
    current_tenant,
    get_current_tenant,
    get_tier_limits,
    require_tenant_context,
)
from llmteam.tenancy.stores import MemoryKeyValueStore, MemoryTenantStore

# --- exports ----------------------------------------------------------------------------------------------


def test_exports() -> None:
    names = {"TenantTier", "TenantLimits", "TIER_LIMITS", "get_tier_limits", "TenantConfig", "TenantError",
             "TenantNotFoundError", "TenantAlreadyExistsError", "TenantLimitExceededError",
             "TenantFeatureDisabledError", "TenantContextError", "current_tenant", "get_current_tenant",
             "require_tenant_context", "TenantContext", "TenantContextStack", "TenantStore", "TenantManager",
             "KeyValueStore", "TenantIsolatedStore", "CrossTenantStore"}
    assert names <= set(ten.__all__)
    assert "MemoryTenantStore" not in ten.__all__ and "MemoryKeyValueStore" not in ten.__all__
    import llmteam.tenancy.stores as stores

    assert {"MemoryTenantStore", "MemoryKeyValueStore"} <= set(stores.__all__)


def test_import_is_light() -> None:
    code = (
        "import sys, llmteam.tenancy, llmteam.tenancy.stores\n"
        "bad = [m for m in ('cryptography', 'asyncpg', 'redis', 'httpx') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- 3.1 models -----------------------------------------------------------------------------------------


def test_tenant_tier_values() -> None:
    assert [(t.name, t.value) for t in TenantTier] == [
        ("FREE", "free"), ("STARTER", "starter"), ("PROFESSIONAL", "professional"), ("ENTERPRISE", "enterprise")]


def test_tenant_limits_dataclass() -> None:
    assert [f.name for f in dataclasses.fields(TenantLimits)] == [
        "max_concurrent_pipelines", "max_agents_per_pipeline", "max_requests_per_minute", "max_storage_gb",
        "max_runs_per_day", "features"]
    with pytest.raises(TypeError):
        TenantLimits()  # type: ignore[call-arg]  # all fields required
    lim = TenantLimits(1, 2, 3, 4.0, 5, {"a"})
    assert lim.has_feature("a") and not lim.has_feature("b")
    assert TenantLimits(1, 2, 3, 4.0, 5, {"*"}).has_feature("anything")
    d = lim.to_dict()
    assert d == {"max_concurrent_pipelines": 1, "max_agents_per_pipeline": 2, "max_requests_per_minute": 3,
                 "max_storage_gb": 4.0, "max_runs_per_day": 5, "features": ["a"]}
    lim.max_runs_per_day = 9
    assert lim.max_runs_per_day == 9


STARTER_F = {"basic_agents", "simple_pipelines", "parallel_execution"}


@pytest.mark.parametrize(
    ("tier", "values", "features"),
    [
        (TenantTier.FREE, (1, 5, 10, 1.0, 100), {"basic_agents", "simple_pipelines"}),
        (TenantTier.STARTER, (2, 10, 60, 10.0, 1000), STARTER_F),
        (TenantTier.PROFESSIONAL, (10, 50, 300, 100.0, 10000),
         STARTER_F | {"external_actions", "human_interaction", "persistence"}),
        (TenantTier.ENTERPRISE, (999999, 999999, 999999, 999999.0, 999999), {"*"}),
    ],
)
def test_tier_limits_table(tier: TenantTier, values: tuple[Any, ...], features: set[str]) -> None:
    lim = TIER_LIMITS[tier]
    assert (lim.max_concurrent_pipelines, lim.max_agents_per_pipeline, lim.max_requests_per_minute,
            lim.max_storage_gb, lim.max_runs_per_day) == values
    assert set(lim.features) == features
    copy_ = get_tier_limits(tier)
    assert copy_.to_dict() == lim.to_dict()


def test_tier_limits_read_only() -> None:
    with pytest.raises(TypeError):
        TIER_LIMITS[TenantTier.FREE] = TIER_LIMITS[TenantTier.ENTERPRISE]  # type: ignore[index]
    got = get_tier_limits(TenantTier.FREE)
    try:
        got.max_concurrent_pipelines = 500
        got.features.add("parallel_execution")
    except (AttributeError, TypeError, dataclasses.FrozenInstanceError):
        pass
    assert TIER_LIMITS[TenantTier.FREE].max_concurrent_pipelines == 1
    assert get_tier_limits(TenantTier.FREE).max_concurrent_pipelines == 1
    assert "parallel_execution" not in TIER_LIMITS[TenantTier.FREE].features
    entry = TIER_LIMITS[TenantTier.FREE]
    try:
        entry.max_runs_per_day = 5
    except (AttributeError, TypeError, dataclasses.FrozenInstanceError):
        pass
    try:
        entry.features.add("x")
    except (AttributeError, TypeError):
        pass
    assert TIER_LIMITS[TenantTier.FREE].max_runs_per_day == 100
    assert "x" not in TIER_LIMITS[TenantTier.FREE].features
    assert TenantConfig("t", "T").get_effective_limits().max_runs_per_day == 100


def test_tenant_config_fields_and_defaults() -> None:
    assert [f.name for f in dataclasses.fields(TenantConfig)] == [
        "tenant_id", "name", "tier", "max_concurrent_pipelines", "max_agents_per_pipeline",
        "max_requests_per_minute", "features_enabled", "features_disabled", "allowed_actions", "blocked_actions",
        "data_region", "encryption_key_id", "audit_retention_days", "metadata", "created_at", "updated_at",
        "is_active"]
    before = datetime.now()
    c = TenantConfig("acme", "Acme")
    assert c.tier is TenantTier.FREE
    assert (c.max_concurrent_pipelines, c.max_agents_per_pipeline, c.max_requests_per_minute) == (None,) * 3
    assert c.features_enabled == set() and c.blocked_actions == set() and c.metadata == {}
    assert (c.data_region, c.encryption_key_id, c.audit_retention_days, c.is_active) == ("default", "", 90, True)
    assert before <= c.created_at <= datetime.now() and before <= c.updated_at <= datetime.now()
    d = TenantConfig("b", "B")
    c.features_enabled.add("x")
    c.metadata["k"] = 1
    assert d.features_enabled == set() and d.metadata == {}
    p = TenantConfig("acme", "Acme", TenantTier.STARTER, 3, 4, 5)
    assert p.tier is TenantTier.STARTER and p.max_requests_per_minute == 5
    p.name = "Renamed"
    p.is_active = False
    assert p.name == "Renamed" and p.is_active is False


def test_effective_limits_overrides_including_zero() -> None:
    c = TenantConfig("t", "T", tier=TenantTier.STARTER, max_concurrent_pipelines=0, max_agents_per_pipeline=7)
    lim = c.get_effective_limits()
    assert isinstance(lim, TenantLimits)
    assert (lim.max_concurrent_pipelines, lim.max_agents_per_pipeline, lim.max_requests_per_minute) == (0, 7, 60)
    assert (lim.max_storage_gb, lim.max_runs_per_day) == (10.0, 1000)
    assert lim is not c.get_effective_limits()
    lim.features.add("mutated")
    assert "mutated" not in c.get_effective_limits().features
    c2 = TenantConfig("t", "T", max_requests_per_minute=0)
    assert c2.get_effective_limits().max_requests_per_minute == 0


def test_effective_features() -> None:
    c = TenantConfig("t", "T", tier=TenantTier.STARTER, features_enabled={"extra", "parallel_execution"},
                     features_disabled={"parallel_execution", "simple_pipelines"})
    assert set(c.get_effective_limits().features) == {"basic_agents", "extra"}
    e = TenantConfig("t", "T", tier=TenantTier.ENTERPRISE, features_disabled={"x"})
    assert e.get_effective_limits().has_feature("y")


def test_is_action_allowed() -> None:
    assert TenantConfig("t", "T").is_action_allowed("anything")
    c = TenantConfig("t", "T", allowed_actions={"a", "b"}, blocked_actions={"b"})
    assert c.is_action_allowed("a")
    assert not c.is_action_allowed("b")  # blocked wins
    assert not c.is_action_allowed("c")
    d = TenantConfig("t", "T", blocked_actions={"x"})
    assert not d.is_action_allowed("x") and d.is_action_allowed("y")


def test_config_to_dict_from_dict_round_trip() -> None:
    created = datetime(2024, 1, 2, 3, 4, 5)
    c = TenantConfig("acme", "Acme", TenantTier.PROFESSIONAL, 3, None, 0, {"f1"}, {"f2"}, {"a1"}, {"b1"}, "eu",
                     "kms-1", 30, {"k": [1, 2]}, created, created, False)
    d = c.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(TenantConfig)}
    assert d["tier"] == "professional"
    assert d["features_enabled"] == ["f1"] and isinstance(d["blocked_actions"], list)
    assert d["created_at"] == created.isoformat() and d["updated_at"] == created.isoformat()
    assert d["max_concurrent_pipelines"] == 3 and d["max_agents_per_pipeline"] is None
    assert d["max_requests_per_minute"] == 0
    assert d["metadata"] == {"k": [1, 2]} and d["is_active"] is False
    back = TenantConfig.from_dict(d)
    assert back == c
    assert back.tier is TenantTier.PROFESSIONAL and back.features_enabled == {"f1"}


def test_from_dict_defaults() -> None:
    before = datetime.now()
    c = TenantConfig.from_dict({"tenant_id": "x", "name": "X"})
    assert c.tier is TenantTier.FREE and c.audit_retention_days == 90 and c.is_active is True
    assert c.features_enabled == set() and c.metadata == {}
    assert c.created_at >= before and c.updated_at >= before


def test_exceptions() -> None:
    for cls in (TenantNotFoundError, TenantAlreadyExistsError, TenantLimitExceededError,
                TenantFeatureDisabledError, TenantContextError):
        assert issubclass(cls, TenantError)
    assert issubclass(TenantError, Exception)
    assert issubclass(TenantAlreadyExistsError, TenantNotFoundError)
    e = TenantLimitExceededError("t1", "runs_per_day", 5, 4)
    assert (e.tenant_id, e.limit_type, e.current, e.maximum) == ("t1", "runs_per_day", 5, 4)
    e2 = TenantLimitExceededError(tenant_id="t", limit_type="x", current=1, maximum=1)
    assert e2.maximum == 1
    f = TenantFeatureDisabledError("t1", "sso")
    assert (f.tenant_id, f.feature) == ("t1", "sso")
    assert "sso" in str(f)


# --- 3.2 context --------------------------------------------------------------------------------------


def test_current_tenant_var() -> None:
    assert isinstance(current_tenant, contextvars.ContextVar)
    assert current_tenant.get() == "" and get_current_tenant() == ""
    with pytest.raises(TenantContextError):
        require_tenant_context()


@pytest.mark.parametrize("bad", ["", "   ", "\t\n"])
def test_context_rejects_empty_at_construction(bad: str) -> None:
    with pytest.raises(ValueError):
        TenantContext(bad)


def test_sync_context_nesting_and_restore() -> None:
    cfg = TenantConfig("a", "A")
    ctx = TenantContext("a", cfg)
    assert ctx.get_config() is cfg and TenantContext("b").get_config() is None
    assert not ctx.is_active()
    with ctx as entered:
        assert entered is ctx
        assert get_current_tenant() == "a" and require_tenant_context() == "a" and ctx.is_active()
        with TenantContext("b") as inner:
            assert get_current_tenant() == "b" and inner.is_active() and not ctx.is_active()
        assert get_current_tenant() == "a"
    assert get_current_tenant() == ""


def test_context_restores_on_exception() -> None:
    with pytest.raises(RuntimeError), TenantContext("a"):
        raise RuntimeError("x")
    assert get_current_tenant() == ""


async def test_async_context() -> None:
    async with TenantContext("x") as ctx:
        assert isinstance(ctx, TenantContext)
        assert get_current_tenant() == "x"
        async with TenantContext("y"):
            assert get_current_tenant() == "y"
        assert get_current_tenant() == "x"
    assert get_current_tenant() == ""


def test_reentrant_same_instance() -> None:
    ctx = TenantContext("a")
    with TenantContext("outer"):
        with ctx:
            with TenantContext("b"):
                with ctx:
                    assert get_current_tenant() == "a"
                assert get_current_tenant() == "b"
            assert get_current_tenant() == "a"
        assert get_current_tenant() == "outer"


async def test_one_instance_entered_concurrently_from_tasks() -> None:
    shared = TenantContext("shared")
    seen: list[tuple[str, str]] = []

    async def worker(name: str, delay: float) -> None:
        with TenantContext(name):
            async with shared:
                await asyncio.sleep(delay)
                seen.append((name, get_current_tenant()))
            seen.append((name + "-after", get_current_tenant()))

    await asyncio.gather(worker("w1", 0.02), worker("w2", 0.0), worker("w3", 0.01))
    assert sorted(seen) == sorted([("w1", "shared"), ("w2", "shared"), ("w3", "shared"),
                                   ("w1-after", "w1"), ("w2-after", "w2"), ("w3-after", "w3")])
    assert get_current_tenant() == ""


def test_context_stack() -> None:
    stack = TenantContextStack()
    assert stack.depth() == 0 and stack.current() is None and stack.pop() is None
    a = stack.push("a")
    assert isinstance(a, TenantContext) and get_current_tenant() == "a" and stack.current() is a
    cfg = TenantConfig("b", "B")
    b = stack.push("b", cfg)
    assert b.get_config() is cfg and stack.depth() == 2 and get_current_tenant() == "b"
    assert stack.pop() is b and get_current_tenant() == "a"
    stack.push("c")
    stack.clear()
    assert stack.depth() == 0 and get_current_tenant() == ""


# --- 3.3 store ----------------------------------------------------------------------------------------


async def test_memory_tenant_store_protocol_and_copies() -> None:
    store = MemoryTenantStore()
    assert isinstance(store, TenantStore)
    c = TenantConfig("a", "A", metadata={"k": 1})
    await store.create(c)
    c.name = "mutated"
    c.metadata["k"] = 2
    got = await store.get("a")
    assert got is not None and got is not c and got.name == "A" and got.metadata == {"k": 1}
    got.name = "again"
    assert (await store.get("a")).name == "A"  # type: ignore[union-attr]
    assert await store.get("missing") is None
    await store.create(TenantConfig("b", "B"))
    assert await store.count() == 2
    page = await store.list(limit=1, offset=0)
    assert len(page) == 1
    assert {t.tenant_id for t in await store.list()} == {"a", "b"}
    upd = TenantConfig("a", "A2")
    await store.update(upd)
    assert (await store.get("a")).name == "A2"  # type: ignore[union-attr]
    await store.delete("a")
    assert await store.get("a") is None
    store.clear()
    assert await store.count() == 0


# --- 3.4 manager ----------------------------------------------------------------------------------------


@pytest.fixture
def manager() -> TenantManager:
    return TenantManager(MemoryTenantStore())


def test_manager_attributes() -> None:
    store = MemoryTenantStore()
    m = TenantManager(store)
    assert m.store is store and m.cache_enabled is True
    assert TenantManager(store, cache_enabled=False).cache_enabled is False
    assert TenantManager(store, False).cache_enabled is False


async def test_manager_crud(manager: TenantManager) -> None:
    cfg = TenantConfig("acme", "Acme", created_at=datetime(2000, 1, 1), updated_at=datetime(2000, 1, 1))
    before = datetime.now()
    created = await manager.create_tenant(cfg)
    assert created.tenant_id == "acme" and created.created_at is not None
    assert created.created_at >= before and created.updated_at >= before
    with pytest.raises(TenantAlreadyExistsError):
        await manager.create_tenant(TenantConfig("acme", "Other"))
    with pytest.raises(TenantNotFoundError):  # backward compatible catch
        await manager.create_tenant(TenantConfig("acme", "Other"))
    got = await manager.get_tenant("acme")
    assert got.name == "Acme"
    got.name = "Local edit"
    got.tier = TenantTier.ENTERPRISE
    again = await manager.get_tenant("acme")
    assert again.name == "Acme" and again.tier is TenantTier.FREE  # copies
    assert not await manager.check_feature("acme", "anything")
    again.name = "Updated"
    old_updated = again.updated_at
    updated = await manager.update_tenant(again)
    assert updated.updated_at >= old_updated
    assert (await manager.get_tenant("acme")).name == "Updated"
    with pytest.raises(TenantNotFoundError):
        await manager.update_tenant(TenantConfig("ghost", "G"))
    assert [t.tenant_id for t in await manager.list_tenants()] == ["acme"]
    assert await manager.list_tenants(limit=10, offset=1) == []
    await manager.delete_tenant("acme")
    with pytest.raises(TenantNotFoundError):
        await manager.get_tenant("acme")
    with pytest.raises(TenantNotFoundError):
        await manager.delete_tenant("acme")
    with pytest.raises(TenantNotFoundError):
        await manager.get_tenant("never")


async def test_manager_get_copy_without_cache() -> None:
    m = TenantManager(MemoryTenantStore(), cache_enabled=False)
    await m.create_tenant(TenantConfig("a", "A"))
    t = await m.get_tenant("a")
    t.features_enabled.add("x")
    assert not await m.check_feature("a", "x")
    await m.update_tenant(t)
    assert await m.check_feature("a", "x")


async def test_manager_update_refreshes_cache(manager: TenantManager) -> None:
    await manager.create_tenant(TenantConfig("a", "A"))
    assert await manager.check_limit("a", "concurrent_pipelines", 0)
    cfg = await manager.get_tenant("a")
    cfg.max_concurrent_pipelines = 0
    await manager.update_tenant(cfg)
    assert not await manager.check_limit("a", "concurrent_pipelines", 0)


async def test_limits(manager: TenantManager) -> None:
    await manager.create_tenant(TenantConfig("s", "S", tier=TenantTier.STARTER, max_requests_per_minute=0))
    cfg = await manager.get_tenant("s")
    lim = manager.get_limits(cfg)
    assert lim.to_dict() == cfg.get_effective_limits().to_dict()
    assert await manager.check_limit("s", "concurrent_pipelines", 1)
    assert not await manager.check_limit("s", "concurrent_pipelines", 2)
    assert await manager.check_limit("s", "agents_per_pipeline", 9)
    assert not await manager.check_limit("s", "agents_per_pipeline", 10)
    assert not await manager.check_limit("s", "requests_per_minute", 0)  # 0 override
    assert await manager.check_limit("s", "runs_per_day", 999)
    assert not await manager.check_limit("s", "runs_per_day", 1000)
    assert await manager.check_limit("s", "unknown_limit", 10**9)
    await manager.enforce_limit("s", "concurrent_pipelines", 1)
    await manager.enforce_limit("s", "unknown_limit", 10**9)
    with pytest.raises(TenantLimitExceededError) as info:
        await manager.enforce_limit("s", "concurrent_pipelines", 2)
    e = info.value
    assert (e.tenant_id, e.limit_type, e.current, e.maximum) == ("s", "concurrent_pipelines", 2, 2)
    with pytest.raises(TenantNotFoundError):
        await manager.check_limit("ghost", "concurrent_pipelines", 0)


async def test_features(manager: TenantManager) -> None:
    await manager.create_tenant(TenantConfig("f", "F", features_enabled={"beta"}))
    assert await manager.check_feature("f", "beta") and await manager.check_feature("f", "basic_agents")
    assert not await manager.check_feature("f", "parallel_execution")
    await manager.require_feature("f", "beta")
    with pytest.raises(TenantFeatureDisabledError) as info:
        await manager.require_feature("f", "parallel_execution")
    assert (info.value.tenant_id, info.value.feature) == ("f", "parallel_execution")


async def test_inactive_tenant_has_nothing(manager: TenantManager) -> None:
    await manager.create_tenant(TenantConfig("off", "Off", tier=TenantTier.ENTERPRISE, is_active=False))
    for lt in ("concurrent_pipelines", "agents_per_pipeline", "requests_per_minute", "runs_per_day"):
        assert not await manager.check_limit("off", lt, 0)
        with pytest.raises(TenantLimitExceededError):
            await manager.enforce_limit("off", lt, 0)
    assert not await manager.check_feature("off", "anything")
    with pytest.raises(TenantFeatureDisabledError):
        await manager.require_feature("off", "anything")
    lim = manager.get_limits(await manager.get_tenant("off"))
    assert (lim.max_concurrent_pipelines, lim.max_agents_per_pipeline, lim.max_requests_per_minute,
            lim.max_runs_per_day) == (0, 0, 0, 0)
    assert not lim.has_feature("x")


async def test_manager_context(manager: TenantManager) -> None:
    await manager.create_tenant(TenantConfig("c", "C"))
    ctx = manager.context("c")
    assert isinstance(ctx, TenantContext)
    cfg = ctx.get_config()
    assert cfg is not None and cfg.tenant_id == "c"
    with manager.context("c"):
        assert get_current_tenant() == "c"
    async with manager.context("unknown") as ctx2:
        assert get_current_tenant() == "unknown" and ctx2.get_config() is None
    assert get_current_tenant() == ""


async def test_cache_management(manager: TenantManager) -> None:
    manager.preload_cache([TenantConfig("pre", "Pre")])
    assert (await manager.get_tenant("pre")).name == "Pre"
    manager.invalidate_cache("pre")
    with pytest.raises(TenantNotFoundError):
        await manager.get_tenant("pre")
    manager.preload_cache([TenantConfig("p2", "P2")])
    manager.invalidate_cache()
    with pytest.raises(TenantNotFoundError):
        await manager.get_tenant("p2")


# --- 3.5 isolated storage ----------------------------------------------------------------------------


async def test_memory_kv_store_protocol() -> None:
    kv = MemoryKeyValueStore()
    assert isinstance(kv, KeyValueStore)
    await kv.set("a:1", 1)
    await kv.set("b:1", 2)
    assert await kv.get("a:1") == 1 and await kv.get("zz") is None
    assert await kv.exists("a:1") and not await kv.exists("zz")
    assert sorted(await kv.list()) == ["a:1", "b:1"] and await kv.list("a") == ["a:1"]
    await kv.delete("a:1")
    assert not await kv.exists("a:1")
    kv.clear()
    assert await kv.list() == []


def test_isolated_store_attributes() -> None:
    inner = MemoryKeyValueStore()
    s = TenantIsolatedStore(inner)
    assert s.inner is inner and s.separator == ":" and s.require_context is True
    s2 = TenantIsolatedStore(inner, "/", False)
    assert s2.separator == "/" and s2.require_context is False


async def test_isolated_store_requires_context_on_every_operation() -> None:
    s = TenantIsolatedStore(MemoryKeyValueStore())
    ops = [s.get("k"), s.set("k", 1), s.delete("k"), s.exists("k"), s.list(), s.get_many(["k"]),
           s.set_many({"k": 1}), s.delete_many(["k"]), s.clear_tenant()]
    for op in ops:
        with pytest.raises(TenantContextError):
            await op


async def test_isolated_store_namespacing() -> None:
    inner = MemoryKeyValueStore()
    s = TenantIsolatedStore(inner)
    with TenantContext("t1"):
        await s.set("k", "v1")
        await s.set_many({"x": 1, "y": 2})
    with TenantContext("t2"):
        await s.set("k", "v2")
        assert await s.get("x") is None and not await s.exists("x")
        assert sorted(await s.list()) == ["k"]
        await s.delete("x")
        await s.delete_many(["x", "y"])
    assert await inner.get("t1:k") == "v1" and await inner.get("t2:k") == "v2"
    with TenantContext("t1"):
        assert await s.get("k") == "v1" and await s.exists("k")
        assert sorted(await s.list()) == ["k", "x", "y"]
        assert await s.list("x") == ["x"]
        assert await s.get_many(["k", "x", "missing"]) == {"k": "v1", "x": 1}
        await s.delete_many(["x"])
        assert not await s.exists("x")
        assert await s.clear_tenant() == 2
        assert await s.list() == []
    assert await inner.get("t2:k") == "v2"


async def test_isolated_store_rejects_separator_in_tenant() -> None:
    inner = MemoryKeyValueStore()
    s = TenantIsolatedStore(inner)
    with TenantContext("t1"):
        await s.set("a:secret", "s")
    with TenantContext("t1:a"):
        with pytest.raises(TenantContextError):
            await s.get("secret")
        with pytest.raises(TenantContextError):
            await s.list()
    with TenantContext("t1"):
        assert await s.get("a:secret") == "s"


async def test_prefix_tenant_cannot_list_others() -> None:
    inner = MemoryKeyValueStore()
    s = TenantIsolatedStore(inner)
    with TenantContext("ab"):
        await s.set("k", 1)
    with TenantContext("a"):
        assert await s.list() == []
        assert await s.list("b") == []
        assert await s.clear_tenant() == 0
    assert await inner.get("ab:k") == 1


async def test_anonymous_namespace_never_equals_a_tenant() -> None:
    inner = MemoryKeyValueStore()
    anon = TenantIsolatedStore(inner, require_context=False)
    await anon.set("k", "anon")
    assert await anon.get("k") == "anon"
    assert await anon.list() == ["k"]
    strict = TenantIsolatedStore(inner)
    for tenant in ("anonymous", "_anonymous", "default", "none", "_", "__anon__", "-"):
        with TenantContext(tenant):
            assert await strict.get("k") is None, tenant
            assert await strict.list() == []
    with TenantContext("x"):
        await anon.set("k", "x-value")
    assert await anon.get("k") == "anon"


async def test_custom_separator() -> None:
    inner = MemoryKeyValueStore()
    s = TenantIsolatedStore(inner, separator="/")
    with TenantContext("t"):
        await s.set("k", 1)
    assert await inner.get("t/k") == 1
    with TenantContext("a/b"), pytest.raises(TenantContextError):
        await s.set("k", 1)


async def test_cross_tenant_store() -> None:
    inner = MemoryKeyValueStore()
    iso = TenantIsolatedStore(inner)
    admin = CrossTenantStore(inner)
    assert admin.separator == ":"
    await admin.set_for_tenant("t1", "k", "v")
    await admin.set_for_tenant("t1", "other", 2)
    assert await admin.get_for_tenant("t1", "k") == "v"
    with TenantContext("t1"):
        assert await iso.get("k") == "v"
    assert sorted(await admin.list_for_tenant("t1")) == ["k", "other"]
    assert await admin.list_for_tenant("t1", "o") == ["other"]
    assert await admin.copy_between_tenants("t1", "t2", "k") is True
    assert await admin.copy_between_tenants("t1", "t2", "missing") is False
    assert await admin.get_for_tenant("t2", "k") == "v"
    assert sorted(await admin.list_all()) == [("t1", "k"), ("t1", "other"), ("t2", "k")]
    assert sorted(await admin.list_all("o")) == [("t1", "other")]
    await admin.delete_for_tenant("t1", "k")
    assert await admin.get_for_tenant("t1", "k") is None
    with pytest.raises(TenantContextError):
        await admin.get_for_tenant("bad:id", "k")
    with pytest.raises(TenantContextError):
        await admin.set_for_tenant("bad:id", "k", 1)
    with pytest.raises(TenantContextError):
        await admin.copy_between_tenants("t1", "x:y", "other")


async def test_isolation_across_concurrent_tasks() -> None:
    inner = MemoryKeyValueStore()
    s = TenantIsolatedStore(inner)

    async def work(t: str) -> list[Any]:
        async with TenantContext(t):
            for i in range(20):
                await s.set(f"k{i}", t)
                await asyncio.sleep(0)
            return [await s.get(f"k{i}") for i in range(20)]

    results = await asyncio.gather(*(work(f"t{i}") for i in range(5)))
    for i, values in enumerate(results):
        assert values == [f"t{i}"] * 20


async def test_managers_share_no_cache() -> None:
    store = MemoryTenantStore()
    m1, m2 = TenantManager(store), TenantManager(MemoryTenantStore())
    await m1.create_tenant(TenantConfig("a", "A"))
    with pytest.raises(TenantNotFoundError):
        await m2.get_tenant("a")
    s1, s2 = MemoryKeyValueStore(), MemoryKeyValueStore()
    await s1.set("k", 1)
    assert await s2.get("k") is None
