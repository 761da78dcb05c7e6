from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tenancy import TIER_LIMITS, TenantConfig, TenantTier


def test_field_order_and_defaults() -> None:
    names = [f.name for f in dataclasses.fields(TenantConfig)]
    assert names == [
        "tenant_id", "name", "tier", "max_concurrent_pipelines", "max_agents_per_pipeline",
        "max_requests_per_minute", "features_enabled", "features_disabled", "allowed_actions", "blocked_actions",
        "data_region", "encryption_key_id", "audit_retention_days", "metadata", "created_at", "updated_at",
        "is_active",
    ]
    a, b = TenantConfig("a", "A"), TenantConfig("b", "B")
    assert a.tier is TenantTier.FREE and a.data_region == "default" and a.audit_retention_days == 90
    assert a.is_active and isinstance(a.created_at, datetime)
    a.features_enabled.add("x")
    a.metadata["k"] = 1
    assert b.features_enabled == set() and b.metadata == {}


def test_effective_limits_overrides_including_zero() -> None:
    config = TenantConfig("a", "A", TenantTier.STARTER, max_concurrent_pipelines=0, max_requests_per_minute=500)
    limits = config.get_effective_limits()
    assert limits.max_concurrent_pipelines == 0
    assert limits.max_agents_per_pipeline == 10
    assert limits.max_requests_per_minute == 500
    assert (limits.max_storage_gb, limits.max_runs_per_day) == (10.0, 1000)
    limits.features.add("mutated")
    assert "mutated" not in TIER_LIMITS[TenantTier.STARTER].features
    assert config.get_effective_limits() is not config.get_effective_limits()


def test_effective_features() -> None:
    config = TenantConfig("a", "A", features_enabled={"sso", "basic_agents"}, features_disabled={"simple_pipelines"})
    assert config.get_effective_limits().features == {"basic_agents", "sso"}
    ent = TenantConfig("e", "E", TenantTier.ENTERPRISE, features_disabled={"x"})
    assert ent.get_effective_limits().features == {"*"}


def test_is_action_allowed() -> None:
    assert TenantConfig("a", "A").is_action_allowed("anything")
    config = TenantConfig("a", "A", allowed_actions={"read", "rm"}, blocked_actions={"rm"})
    assert config.is_action_allowed("read")
    assert not config.is_action_allowed("rm")
    assert not config.is_action_allowed("write")
    assert not TenantConfig("a", "A", blocked_actions={"x"}).is_action_allowed("x")


def test_to_dict_and_back() -> None:
    config = TenantConfig(
        "acme", "Acme", TenantTier.PROFESSIONAL, 3, None, 0, {"b", "a"}, {"c"}, {"run"}, set(), "eu", "k1", 7,
        {"x": [1]}, datetime(2024, 1, 1), datetime(2024, 1, 2), False,
    )
    data = config.to_dict()
    assert data["tier"] == "professional"
    assert data["features_enabled"] == ["a", "b"]
    assert data["created_at"] == "2024-01-01T00:00:00"
    assert TenantConfig.from_dict(data) == config
    data["metadata"]["x"].append(2)
    assert config.metadata == {"x": [1]}


def test_from_dict_defaults_and_unknown_keys() -> None:
    before = datetime.now()
    config = TenantConfig.from_dict({"tenant_id": "a", "name": "A", "future_field": 1})
    assert config.tier is TenantTier.FREE and config.created_at >= before and config.updated_at >= before
    config = TenantConfig.from_dict({"tenant_id": "a", "name": "A", "tier": TenantTier.STARTER})
    assert config.tier is TenantTier.STARTER


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        ({"tenant_id": "a", "name": "A", "tier": "gold"}, "tier", "gold"),
        ({"name": "A"}, "tenant_id", "missing"),
        ({"tenant_id": "a"}, "name", "missing"),
        ({"tenant_id": "   ", "name": "A"}, "tenant_id", "   "),
        ({"tenant_id": "a", "name": "A", "created_at": "yesterday"}, "created_at", "yesterday"),
        ({"tenant_id": "a", "name": "A", "max_agents_per_pipeline": -1}, "max_agents_per_pipeline", "-1"),
        ({"tenant_id": "a", "name": "A", "max_agents_per_pipeline": "5"}, "max_agents_per_pipeline", "5"),
        ({"tenant_id": "a", "name": "A", "features_enabled": "sso"}, "features_enabled", "sso"),
        ({"tenant_id": "a", "name": "A", "features_enabled": [1]}, "features_enabled", "1"),
        ({"tenant_id": "a", "name": "A", "metadata": []}, "metadata", "[]"),
        ({"tenant_id": "a", "name": "A", "is_active": "no"}, "is_active", "no"),
        ({"tenant_id": "a", "name": "A", "audit_retention_days": -5}, "audit_retention_days", "-5"),
    ],
)
def test_from_dict_malformed_names_field_and_value(data: dict[str, object], field: str, value: str) -> None:
    with pytest.raises(ValueError) as info:
        TenantConfig.from_dict(data)
    assert field in str(info.value) and value in str(info.value)


def test_from_dict_needs_a_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        TenantConfig.from_dict(["a"])  # type: ignore[arg-type]


def test_constructor_validates_and_normalises() -> None:
    assert TenantConfig("a", "A", tier="starter").tier is TenantTier.STARTER  # type: ignore[arg-type]
    assert TenantConfig("a", "A", features_enabled=["x", "y"]).features_enabled == {"x", "y"}  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_requests_per_minute"):
        TenantConfig("a", "A", max_requests_per_minute=-1)
    with pytest.raises(ValueError, match="tenant_id"):
        TenantConfig("", "A")
    with pytest.raises(ValueError, match="tenant_id"):
        TenantConfig("a\nb", "A")


def test_validate_catches_later_assignment() -> None:
    config = TenantConfig("a", "A")
    config.max_concurrent_pipelines = -2
    with pytest.raises(ValueError, match="-2"):
        config.validate()


def test_copy_is_deep() -> None:
    config = TenantConfig("a", "A", metadata={"x": [1]})
    other = config.copy()
    other.metadata["x"].append(2)
    other.features_enabled.add("f")
    assert config.metadata == {"x": [1]} and config.features_enabled == set()


_names = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=20).filter(
    str.strip)
_sets = st.sets(st.text(max_size=8), max_size=4)
_override = st.none() | st.integers(0, 10**6)


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        TenantConfig, _names, st.text(max_size=20), st.sampled_from(TenantTier), _override, _override, _override,
        _sets, _sets, _sets, _sets, st.text(max_size=10), st.text(max_size=10), st.integers(0, 10**4),
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
        st.datetimes(), st.datetimes(), st.booleans(),
    )
)
def test_round_trip_property(config: TenantConfig) -> None:
    assert TenantConfig.from_dict(config.to_dict()) == config
