from __future__ import annotations

import dataclasses

import pytest

from llmteam.tenancy import TIER_LIMITS, TenantLimits, TenantTier, get_tier_limits


def test_tier_values() -> None:
    assert [t.value for t in TenantTier] == ["free", "starter", "professional", "enterprise"]


def test_table_matches_contract() -> None:
    free = TIER_LIMITS[TenantTier.FREE]
    assert (free.max_concurrent_pipelines, free.max_agents_per_pipeline, free.max_requests_per_minute) == (1, 5, 10)
    assert (free.max_storage_gb, free.max_runs_per_day) == (1.0, 100)
    assert set(free.features) == {"basic_agents", "simple_pipelines"}
    starter = TIER_LIMITS[TenantTier.STARTER]
    assert (starter.max_concurrent_pipelines, starter.max_requests_per_minute) == (2, 60)
    assert starter.max_runs_per_day == 1000
    assert set(starter.features) == {"basic_agents", "simple_pipelines", "parallel_execution"}
    pro = TIER_LIMITS[TenantTier.PROFESSIONAL]
    assert (pro.max_concurrent_pipelines, pro.max_agents_per_pipeline, pro.max_storage_gb) == (10, 50, 100.0)
    assert set(pro.features) == set(starter.features) | {"external_actions", "human_interaction", "persistence"}
    ent = TIER_LIMITS[TenantTier.ENTERPRISE]
    assert ent.max_runs_per_day == 999999 and ent.max_storage_gb == 999999.0 and ent.has_feature("anything")


def test_table_cannot_be_modified() -> None:
    with pytest.raises(TypeError):
        TIER_LIMITS[TenantTier.FREE] = get_tier_limits(TenantTier.ENTERPRISE)  # type: ignore[index]
    free = TIER_LIMITS[TenantTier.FREE]
    with pytest.raises(dataclasses.FrozenInstanceError):
        free.max_runs_per_day = 10**9
    with pytest.raises(AttributeError):
        free.features.add("sso")  # type: ignore[attr-defined]
    assert TIER_LIMITS[TenantTier.FREE].max_runs_per_day == 100
    assert not TIER_LIMITS[TenantTier.FREE].has_feature("sso")


def test_get_tier_limits_is_an_independent_mutable_copy() -> None:
    limits = get_tier_limits(TenantTier.FREE)
    assert type(limits) is TenantLimits and limits == TIER_LIMITS[TenantTier.FREE]
    assert TIER_LIMITS[TenantTier.FREE] == limits
    limits.features.add("sso")
    limits.max_runs_per_day = 5
    assert get_tier_limits(TenantTier.FREE).max_runs_per_day == 100
    assert not get_tier_limits(TenantTier.FREE).has_feature("sso")
    assert get_tier_limits("starter").max_concurrent_pipelines == 2  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gold"):
        get_tier_limits("gold")  # type: ignore[arg-type]


def test_limits_dataclass_and_to_dict() -> None:
    limits = TenantLimits(1, 2, 3, 4.0, 5, {"b", "a"})
    assert limits.to_dict() == {
        "max_concurrent_pipelines": 1, "max_agents_per_pipeline": 2, "max_requests_per_minute": 3,
        "max_storage_gb": 4.0, "max_runs_per_day": 5, "features": ["a", "b"],
    }
    assert limits.has_feature("a") and not limits.has_feature("c")
    assert TenantLimits(0, 0, 0, 0.0, 0, {"*"}).has_feature("c")
    with pytest.raises(TypeError):
        TenantLimits(1, 2, 3, 4.0, 5)  # type: ignore[call-arg]
