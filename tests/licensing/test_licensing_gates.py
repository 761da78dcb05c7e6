from __future__ import annotations

import inspect

import pytest

from llmteam.licensing import (
    FeatureNotLicensedError,
    LicenseManager,
    LicenseTier,
    activate,
    check_builtin_gate,
    enterprise_only,
    get_license_manager,
    get_tier,
    has_feature,
    print_license_status,
    professional_only,
    require_enterprise,
    require_professional,
    require_tier,
)

P, E = LicenseTier.PROFESSIONAL, LicenseTier.ENTERPRISE


def test_module_functions_follow_the_current_singleton(issuer, capsys) -> None:
    first = get_license_manager()
    assert first is LicenseManager.instance()
    lic = activate(issuer.key("ENT"))
    assert first.license is lic and get_tier() is E and has_feature("anything")
    LicenseManager.reset()
    assert get_license_manager() is not first and get_tier() is LicenseTier.COMMUNITY
    print_license_status()
    assert "Community" in capsys.readouterr().out


def test_require_tier_sync() -> None:
    @require_tier(P)
    def compute(x: int) -> int:
        """Doc."""
        return x * 2

    assert compute.__name__ == "compute" and compute.__doc__ == "Doc."
    with pytest.raises(FeatureNotLicensedError) as info:
        compute(2)
    assert info.value.required_tier is P and info.value.feature.endswith("compute")
    assert "professional" in str(info.value).lower()
    LicenseManager._instance = LicenseManager(P)
    assert compute(2) == 4


async def test_require_tier_async_keeps_async_ness(issuer) -> None:
    @require_enterprise
    async def fetch() -> str:
        return "ok"

    assert inspect.iscoroutinefunction(fetch)
    with pytest.raises(FeatureNotLicensedError):
        await fetch()
    activate(issuer.key("ENT"))
    assert await fetch() == "ok"


def test_shorthands_with_and_without_parentheses() -> None:
    @require_professional()
    def a() -> int:
        return 1

    @require_professional
    def b() -> int:
        return 2

    for f in (a, b):
        with pytest.raises(FeatureNotLicensedError):
            f()
    LicenseManager._instance = LicenseManager(P)
    assert (a(), b()) == (1, 2)
    with pytest.raises(TypeError):
        require_tier("enterprise")  # type: ignore[arg-type]


def test_class_decorators() -> None:
    @professional_only
    class Miner:
        def __init__(self, x: int) -> None:
            self.x = x

    @enterprise_only
    class Tenants:
        pass

    assert Miner._requires_tier is P and Tenants._requires_tier is E  # type: ignore[attr-defined]
    with pytest.raises(FeatureNotLicensedError) as info:
        Miner(1)
    assert info.value.feature == "Miner"
    LicenseManager._instance = LicenseManager(P)
    assert Miner(3).x == 3
    with pytest.raises(FeatureNotLicensedError, match="Tenants"):
        Tenants()


def test_decorator_checks_each_call_against_current_manager(issuer) -> None:
    @require_tier(E)
    def guarded() -> str:
        return "ok"

    activate(issuer.key("ENT"))
    assert guarded() == "ok"
    LicenseManager.reset()
    with pytest.raises(FeatureNotLicensedError):
        guarded()


@pytest.mark.parametrize("value", [None, "", "0", "true", "yes"])
def test_builtin_gate_is_off_unless_enforce_is_1(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is not None:
        monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", value)
    check_builtin_gate("TenantManager", E)  # community, yet no error


def test_builtin_gate_enforced(issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")
    with pytest.raises(FeatureNotLicensedError) as info:
        check_builtin_gate("AuditTrail", E)
    assert info.value.feature == "AuditTrail" and info.value.required_tier is E
    activate(issuer.key("PRO"))
    check_builtin_gate("ProcessMiningEngine", P)
    with pytest.raises(FeatureNotLicensedError):
        check_builtin_gate("TenantManager", E)
