from __future__ import annotations

from llmteam.tenancy import (
    TenantAlreadyExistsError,
    TenantContextError,
    TenantError,
    TenantFeatureDisabledError,
    TenantLimitExceededError,
    TenantNotFoundError,
)


def test_hierarchy() -> None:
    for cls in (TenantNotFoundError, TenantLimitExceededError, TenantFeatureDisabledError, TenantContextError):
        assert issubclass(cls, TenantError)
    assert issubclass(TenantAlreadyExistsError, TenantNotFoundError)
    assert issubclass(TenantError, Exception)


def test_limit_exceeded_keeps_attributes_and_names_them() -> None:
    err = TenantLimitExceededError("acme", "runs_per_day", 100, 100)
    assert (err.tenant_id, err.limit_type, err.current, err.maximum) == ("acme", "runs_per_day", 100, 100)
    assert "acme" in str(err) and "runs_per_day" in str(err) and "100" in str(err)


def test_feature_disabled_keeps_attributes() -> None:
    err = TenantFeatureDisabledError("acme", "sso")
    assert (err.tenant_id, err.feature) == ("acme", "sso")
    assert "sso" in str(err) and "acme" in str(err)
