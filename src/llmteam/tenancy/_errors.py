"""Every tenancy exception: one shallow hierarchy under :class:`TenantError`."""

from __future__ import annotations

from typing import Any

from llmteam._exceptions import LLMTeamError


class TenantError(LLMTeamError):
    """Base class of every tenancy error."""


class TenantNotFoundError(TenantError):
    """The tenant does not exist (or was deleted)."""


class TenantAlreadyExistsError(TenantNotFoundError):
    """A tenant with this id already exists (subclasses TenantNotFoundError for backward compatibility)."""


class TenantLimitExceededError(TenantError):
    """A tenant reached one of its effective limits."""

    def __init__(self, tenant_id: str, limit_type: str, current: Any, maximum: Any) -> None:
        self.tenant_id = tenant_id
        self.limit_type = limit_type
        self.current = current
        self.maximum = maximum
        super().__init__(
            f"tenant {tenant_id!r} exceeded limit {limit_type!r}: current {current!r} >= maximum {maximum!r}"
        )


class TenantFeatureDisabledError(TenantError):
    """A tenant asked for a feature its tier or configuration does not grant."""

    def __init__(self, tenant_id: str, feature: str) -> None:
        self.tenant_id = tenant_id
        self.feature = feature
        super().__init__(
            f"feature {feature!r} is not available to tenant {tenant_id!r}; "
            "enable it in the tenant's config or upgrade its tier"
        )


class TenantContextError(TenantError):
    """No usable tenant context: none is set, or the tenant id cannot be used as a namespace."""
