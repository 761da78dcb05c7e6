"""TenantConfig: one tenant's tier, overrides, feature and action lists, and its (de)serialisation."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from llmteam.tenancy._limits import TIER_LIMITS, TenantLimits, TenantTier, coerce_tier
from llmteam.tenancy._validation import validate_override, validate_tenant_id

_OVERRIDES = ("max_concurrent_pipelines", "max_agents_per_pipeline", "max_requests_per_minute")
_SETS = ("features_enabled", "features_disabled", "allowed_actions", "blocked_actions")
_STRINGS = ("name", "data_region", "encryption_key_id")


def _as_str_set(value: object, name: str) -> set[str]:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ValueError(f"field {name!r}: expected a set or list of strings, not {value!r}")
    items = set(value)
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"field {name!r}: every entry must be a string, not {item!r}")
    return items


def _as_datetime(value: object, name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"field {name!r}: expected a datetime or an ISO-8601 string, not {value!r}")


@dataclass
class TenantConfig:
    """One tenant: identity, tier, limit overrides, features, actions, data residency and metadata.

    Invalid values raise ValueError naming the field at construction; :meth:`validate` re-checks after
    attributes were assigned (stores and the manager call it before writing).
    """

    tenant_id: str
    name: str
    tier: TenantTier = TenantTier.FREE
    max_concurrent_pipelines: int | None = None
    max_agents_per_pipeline: int | None = None
    max_requests_per_minute: int | None = None
    features_enabled: set[str] = field(default_factory=set)
    features_disabled: set[str] = field(default_factory=set)
    allowed_actions: set[str] = field(default_factory=set)
    blocked_actions: set[str] = field(default_factory=set)
    data_region: str = "default"
    encryption_key_id: str = ""
    audit_retention_days: int = 90
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=datetime.now)
    updated_at: datetime = field(default_factory=datetime.now)
    is_active: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check (and normalise: tier values to TenantTier, lists to sets) every field; ValueError names the bad one."""
        validate_tenant_id(self.tenant_id)
        for name in _STRINGS:
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"field {name!r}: expected a string, not {getattr(self, name)!r}")
        self.tier = coerce_tier(self.tier)
        for name in _OVERRIDES:
            validate_override(getattr(self, name), name)
        for name in _SETS:
            value = getattr(self, name)
            if not isinstance(value, set) or any(not isinstance(v, str) for v in value):
                setattr(self, name, _as_str_set(value, name))
        days = self.audit_retention_days
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError(f"field 'audit_retention_days': expected an int >= 0, not {days!r}")
        if not isinstance(self.metadata, dict):
            raise ValueError(f"field 'metadata': expected a dict, not {self.metadata!r}")
        for name in ("created_at", "updated_at"):
            if not isinstance(getattr(self, name), datetime):
                raise ValueError(f"field {name!r}: expected a datetime, not {getattr(self, name)!r}")
        if not isinstance(self.is_active, bool):
            raise ValueError(f"field 'is_active': expected True or False, not {self.is_active!r}")

    def get_effective_limits(self) -> TenantLimits:
        """A new TenantLimits: the tier's values, each override that is not None replacing its value."""
        base = TIER_LIMITS[self.tier]
        return TenantLimits(
            max_concurrent_pipelines=(
                base.max_concurrent_pipelines if self.max_concurrent_pipelines is None
                else self.max_concurrent_pipelines
            ),
            max_agents_per_pipeline=(
                base.max_agents_per_pipeline if self.max_agents_per_pipeline is None
                else self.max_agents_per_pipeline
            ),
            max_requests_per_minute=(
                base.max_requests_per_minute if self.max_requests_per_minute is None
                else self.max_requests_per_minute
            ),
            max_storage_gb=base.max_storage_gb,
            max_runs_per_day=base.max_runs_per_day,
            features=(set(base.features) | self.features_enabled) - self.features_disabled,
        )

    def is_action_allowed(self, action: str) -> bool:
        """Blocked actions never; otherwise members of a non-empty allow-list, or anything if it is empty."""
        if action in self.blocked_actions:
            return False
        if self.allowed_actions:
            return action in self.allowed_actions
        return True

    def copy(self) -> TenantConfig:
        """An independent deep copy (sets and metadata included)."""
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """Every field: tier as its value, sets as sorted lists, datetimes as ISO strings."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "tier":
                value = value.value
            elif f.name in _SETS:
                value = sorted(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif f.name == "metadata":
                value = copy.deepcopy(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantConfig:
        """The inverse of :meth:`to_dict`; missing optional keys take defaults, missing timestamps mean now.

        Unknown keys are ignored (rows written by a newer llmteam stay readable). Malformed data raises
        ValueError naming the field and the value.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"TenantConfig.from_dict needs a mapping, not {data!r}")
        for required in ("tenant_id", "name"):
            if required not in data:
                raise ValueError(f"field {required!r} is missing from {dict(data)!r}")
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        now = datetime.now()
        for name in ("created_at", "updated_at"):
            value = kwargs.get(name)
            kwargs[name] = now if value is None else _as_datetime(value, name)
        if kwargs.get("metadata") is None:
            kwargs.pop("metadata", None)
        for name in _SETS:
            if kwargs.get(name) is None:
                kwargs.pop(name, None)
        return cls(**kwargs)
