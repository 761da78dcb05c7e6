"""Licence tiers and their limits; the table is read-only, callers get copies to mutate."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any


class LicenseTier(Enum):
    """The licence tiers, ordered COMMUNITY < PROFESSIONAL < ENTERPRISE."""

    COMMUNITY = "community"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"

    def __str__(self) -> str:
        return self.value

    @property
    def display_name(self) -> str:
        """Human name, e.g. ``"Professional"``."""
        return self.value.title()

    @property
    def is_paid(self) -> bool:
        """True for PROFESSIONAL and ENTERPRISE."""
        return self is not LicenseTier.COMMUNITY

    @property
    def rank(self) -> int:
        """Position in the tier order (COMMUNITY is 0)."""
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, LicenseTier):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    def __le__(self, other: object) -> bool:
        if not isinstance(other, LicenseTier):
            return NotImplemented
        return _RANK[self] <= _RANK[other]

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, LicenseTier):
            return NotImplemented
        return _RANK[self] > _RANK[other]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, LicenseTier):
            return NotImplemented
        return _RANK[self] >= _RANK[other]


_RANK: dict[LicenseTier, int] = {tier: i for i, tier in enumerate(LicenseTier)}


@dataclass
class LicenseLimits:
    """What a tier allows: numeric limits, feature flags and a feature set (``"*"`` = every feature)."""

    max_concurrent_pipelines: int = 1
    max_agents_per_pipeline: int = 5
    max_parallel_agents: int = 2
    max_teams: int = 1
    max_snapshots: int = 10
    process_mining: bool = False
    audit_trail: bool = False
    multi_tenant: bool = False
    postgres_store: bool = False
    redis_store: bool = False
    human_interaction: bool = False
    external_actions: bool = False
    features: set[str] = field(default_factory=set)

    def copy(self) -> LicenseLimits:
        """A fresh, mutable ``LicenseLimits`` with the same values (its own ``features`` set)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(LicenseLimits)}
        values["features"] = set(self.features)
        return LicenseLimits(**values)


class _FrozenLicenseLimits(LicenseLimits):
    """The table's entries: every attribute can be set once (by ``__init__``), never reassigned or deleted."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__:
            raise dataclasses.FrozenInstanceError(
                f"LICENSE_LIMITS entries are read-only (cannot assign {name!r}); use .copy() or manager.limits"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"LICENSE_LIMITS entries are read-only (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LicenseLimits):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in dataclasses.fields(LicenseLimits))

    __hash__ = None  # type: ignore[assignment]


def _frozen(**values: Any) -> LicenseLimits:
    values["features"] = frozenset(values.get("features", ()))
    return _FrozenLicenseLimits(**values)


_COMMUNITY_FEATURES = frozenset({"basic", "memory_store", "basic_agents", "sequential_execution"})
_PRO_FEATURES = _COMMUNITY_FEATURES | {
    "parallel_execution", "process_mining", "postgres_store", "redis_store", "human_interaction", "external_actions",
}
_UNLIMITED = 999999

LICENSE_LIMITS: Mapping[LicenseTier, LicenseLimits] = MappingProxyType({
    LicenseTier.COMMUNITY: _frozen(
        max_concurrent_pipelines=1, max_agents_per_pipeline=5, max_parallel_agents=2, max_teams=2, max_snapshots=10,
        features=_COMMUNITY_FEATURES,
    ),
    LicenseTier.PROFESSIONAL: _frozen(
        max_concurrent_pipelines=5, max_agents_per_pipeline=20, max_parallel_agents=10, max_teams=10,
        max_snapshots=100, process_mining=True, postgres_store=True, redis_store=True, human_interaction=True,
        external_actions=True, features=_PRO_FEATURES,
    ),
    LicenseTier.ENTERPRISE: _frozen(
        max_concurrent_pipelines=_UNLIMITED, max_agents_per_pipeline=_UNLIMITED, max_parallel_agents=_UNLIMITED,
        max_teams=_UNLIMITED, max_snapshots=_UNLIMITED, process_mining=True, audit_trail=True, multi_tenant=True,
        postgres_store=True, redis_store=True, human_interaction=True, external_actions=True, features={"*"},
    ),
})
TIER_LIMITS = LICENSE_LIMITS

# Features recorded on a License of each tier (§1.4); distinct from the limits table's feature sets.
_BASE_LICENSE_FEATURES = ("basic", "memory_store")
_PRO_LICENSE_FEATURES = (
    *_BASE_LICENSE_FEATURES, "process_mining", "postgres_store", "redis_store", "human_interaction", "external_actions",
)
LICENSE_FEATURES: Mapping[LicenseTier, tuple[str, ...]] = MappingProxyType({
    LicenseTier.COMMUNITY: _BASE_LICENSE_FEATURES,
    LicenseTier.PROFESSIONAL: _PRO_LICENSE_FEATURES,
    LicenseTier.ENTERPRISE: (*_PRO_LICENSE_FEATURES, "multi_tenant", "audit_trail", "sso", "priority_support"),
})
