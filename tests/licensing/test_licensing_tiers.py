from __future__ import annotations

import dataclasses

import pytest

from llmteam.licensing import LICENSE_LIMITS, TIER_LIMITS, LicenseLimits, LicenseManager, LicenseTier

C, P, E = LicenseTier.COMMUNITY, LicenseTier.PROFESSIONAL, LicenseTier.ENTERPRISE


def test_tier_values_order_and_properties() -> None:
    assert [t.value for t in LicenseTier] == ["community", "professional", "enterprise"]
    assert C < P < E and E > P > C and C <= C and E >= P
    assert sorted([E, C, P]) == [C, P, E]
    assert str(P) == "professional" and P.display_name == "Professional"
    assert (C.is_paid, P.is_paid, E.is_paid) == (False, True, True)
    with pytest.raises(TypeError):
        _ = C < "professional"  # type: ignore[operator]


def test_limits_defaults_and_fresh_features() -> None:
    a, b = LicenseLimits(), LicenseLimits()
    assert (a.max_concurrent_pipelines, a.max_agents_per_pipeline, a.max_parallel_agents) == (1, 5, 2)
    assert (a.max_teams, a.max_snapshots, a.process_mining, a.features) == (1, 10, False, set())
    a.features.add("x")
    assert "x" in a.features and "x" not in b.features
    a.max_teams = 7  # plain dataclass: assignable
    assert a.max_teams == 7


def test_table_matches_contract() -> None:
    assert TIER_LIMITS is LICENSE_LIMITS
    com, pro, ent = LICENSE_LIMITS[C], LICENSE_LIMITS[P], LICENSE_LIMITS[E]
    num = ("max_concurrent_pipelines", "max_agents_per_pipeline", "max_parallel_agents", "max_teams", "max_snapshots")
    assert [getattr(com, n) for n in num] == [1, 5, 2, 2, 10]
    assert [getattr(pro, n) for n in num] == [5, 20, 10, 10, 100]
    assert [getattr(ent, n) for n in num] == [999999] * 5
    assert (com.process_mining, pro.process_mining, ent.process_mining) == (False, True, True)
    for flag in ("audit_trail", "multi_tenant"):
        assert (getattr(com, flag), getattr(pro, flag), getattr(ent, flag)) == (False, False, True)
    for flag in ("postgres_store", "redis_store", "human_interaction", "external_actions"):
        assert (getattr(com, flag), getattr(pro, flag), getattr(ent, flag)) == (False, True, True)
    base = {"basic", "memory_store", "basic_agents", "sequential_execution"}
    assert set(com.features) == base
    assert set(pro.features) == base | {
        "parallel_execution", "process_mining", "postgres_store", "redis_store", "human_interaction",
        "external_actions",
    }
    assert set(ent.features) == {"*"}
    assert all(isinstance(v, LicenseLimits) for v in LICENSE_LIMITS.values())


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        LICENSE_LIMITS[C] = LicenseLimits()  # type: ignore[index]
    entry = LICENSE_LIMITS[C]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.max_teams = 100
    with pytest.raises(dataclasses.FrozenInstanceError):
        del entry.max_teams
    with pytest.raises(AttributeError):
        entry.features.add("parallel_execution")  # frozenset
    assert entry.max_teams == 2 and "parallel_execution" not in entry.features


def test_copies_are_mutable_and_independent() -> None:
    entry = LICENSE_LIMITS[P]
    copy = entry.copy()
    assert type(copy) is LicenseLimits and copy == entry and entry == copy
    copy.max_teams = 1
    copy.features.add("extra")
    assert entry.max_teams == 10 and "extra" not in entry.features
    replaced = dataclasses.replace(entry, max_teams=3)
    assert replaced.max_teams == 3 and entry.max_teams == 10


def test_manager_limits_mutation_never_leaks() -> None:
    a, b = LicenseManager(P), LicenseManager(P)
    lim = a.limits
    lim.max_parallel_agents = 1
    lim.features.clear()
    assert a.limits.max_parallel_agents == 10 and b.limits.max_parallel_agents == 10
    assert "parallel_execution" in b.limits.features
    assert LICENSE_LIMITS[P].max_parallel_agents == 10
