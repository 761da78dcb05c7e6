"""Tenant tiers and their limits; the tier table is read-only."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any


class TenantTier(Enum):
    """The commercial tier of a tenant; it selects the default limits."""

    FREE = "free"
    STARTER = "starter"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


@dataclass
class TenantLimits:
    """The effective limits and features of a tenant."""

    max_concurrent_pipelines: int
    max_agents_per_pipeline: int
    max_requests_per_minute: int
    max_storage_gb: float
    max_runs_per_day: int
    features: set[str]

    def has_feature(self, feature: str) -> bool:
        """True if ``feature`` is granted (``"*"`` grants every feature)."""
        return "*" in self.features or feature in self.features

    def to_dict(self) -> dict[str, Any]:
        """All six fields, ``features`` as a sorted list."""
        return {
            "max_concurrent_pipelines": self.max_concurrent_pipelines,
            "max_agents_per_pipeline": self.max_agents_per_pipeline,
            "max_requests_per_minute": self.max_requests_per_minute,
            "max_storage_gb": self.max_storage_gb,
            "max_runs_per_day": self.max_runs_per_day,
            "features": sorted(self.features),
        }

    def copy(self) -> TenantLimits:
        """A mutable, independent copy (also of a read-only table entry)."""
        return TenantLimits(
            self.max_concurrent_pipelines,
            self.max_agents_per_pipeline,
            self.max_requests_per_minute,
            self.max_storage_gb,
            self.max_runs_per_day,
            set(self.features),
        )


class _FrozenTenantLimits(TenantLimits):
    """A read-only TenantLimits (features a frozenset), used for the shared tier table."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        src = TenantLimits(*args, **kwargs)
        for f in dataclasses.fields(TenantLimits):
            value = getattr(src, f.name)
            object.__setattr__(self, f.name, frozenset(value) if f.name == "features" else value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(
            f"TIER_LIMITS entries are read-only (tried to set {name!r}); use get_tier_limits(tier) for a copy"
        )

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"TIER_LIMITS entries are read-only (tried to delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TenantLimits):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


_BASIC = {"basic_agents", "simple_pipelines"}
_STARTER = _BASIC | {"parallel_execution"}
_PRO = _STARTER | {"external_actions", "human_interaction", "persistence"}

TIER_LIMITS: Mapping[TenantTier, TenantLimits] = MappingProxyType(
    {
        TenantTier.FREE: _FrozenTenantLimits(1, 5, 10, 1.0, 100, _BASIC),
        TenantTier.STARTER: _FrozenTenantLimits(2, 10, 60, 10.0, 1000, _STARTER),
        TenantTier.PROFESSIONAL: _FrozenTenantLimits(10, 50, 300, 100.0, 10000, _PRO),
        TenantTier.ENTERPRISE: _FrozenTenantLimits(999999, 999999, 999999, 999999.0, 999999, {"*"}),
    }
)

ZERO_LIMITS: TenantLimits = _FrozenTenantLimits(0, 0, 0, 0.0, 0, set())
"""What the manager applies to an inactive tenant: every limit 0, no features."""


def within_limit(current: Any, maximum: float) -> bool:
    """The one limit rule, shared by ``check_limit`` and ``enforce_limit``: True iff ``current < maximum``.

    Both callers use this test itself, never its negation, so a value that compares false both ways (NaN) is over.
    """
    return bool(current < maximum)


def coerce_tier(value: object, field: str = "tier") -> TenantTier:
    """``value`` as a TenantTier (a member or its value such as ``"free"``), else ValueError naming it."""
    if isinstance(value, TenantTier):
        return value
    if isinstance(value, str):
        try:
            return TenantTier(value.strip().lower())
        except ValueError:
            pass
    raise ValueError(f"field {field!r}: unknown tenant tier {value!r}; use one of {[t.value for t in TenantTier]}")


def get_tier_limits(tier: TenantTier) -> TenantLimits:
    """A fresh, mutable copy of ``tier``'s default limits."""
    return TIER_LIMITS[coerce_tier(tier)].copy()
