"""Acceptance tests for API contract §1 (llmteam.licensing), written from the contract text only.

Keys are signed here exactly as §1.6 says (Ed25519 over ``LLMT-<TIER>-<OWNER>-<YYYYMMDD>``, unpadded upper-case
base32), with a throw-away key pair; nothing from the project's own issuer tool is used.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import inspect
import logging
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import llmteam.licensing as lic
from llmteam.execution import ExecutionMode, ExecutorConfig
from llmteam.licensing import (
    LICENSE_LIMITS,
    TIER_LIMITS,
    FeatureNotLicensedError,
    License,
    LicenseExpiredError,
    LicenseLimits,
    LicenseManager,
    LicenseTier,
    LicenseValidationError,
)

FAR = date(2099, 12, 31)
PRO_LIC_FEATURES = ["basic", "memory_store", "process_mining", "postgres_store", "redis_store",
                    "human_interaction", "external_actions"]


class Signer:
    """A throw-away issuer: signs keys per §1.6."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public_raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_b64 = base64.b64encode(self.public_raw).decode()

    def sign(self, body: str) -> str:
        sig = base64.b32encode(self.private.sign(body.encode("utf-8"))).decode().rstrip("=")
        assert len(sig) == 103
        return f"{body}-{sig}"

    def key(self, tier: str = "PRO", owner: str = "ACME", expires: date = FAR) -> str:
        return self.sign(f"LLMT-{tier}-{owner}-{expires:%Y%m%d}")


@pytest.fixture(scope="module")
def signer_keys() -> Signer:
    return Signer()


@pytest.fixture
def signer(signer_keys: Signer) -> Signer:
    LicenseManager.configure(public_key=signer_keys.public_raw)
    return signer_keys


# --- 1.1 LicenseTier ------------------------------------------------------------------------------------


def test_tier_values_order_str_display_paid() -> None:
    assert [(t.name, t.value) for t in LicenseTier] == [
        ("COMMUNITY", "community"), ("PROFESSIONAL", "professional"), ("ENTERPRISE", "enterprise")]
    assert LicenseTier.COMMUNITY < LicenseTier.PROFESSIONAL < LicenseTier.ENTERPRISE
    assert LicenseTier.ENTERPRISE >= LicenseTier.PROFESSIONAL and LicenseTier.COMMUNITY <= LicenseTier.COMMUNITY
    assert not LicenseTier.ENTERPRISE < LicenseTier.COMMUNITY
    assert sorted([LicenseTier.ENTERPRISE, LicenseTier.COMMUNITY, LicenseTier.PROFESSIONAL]) == list(LicenseTier)
    assert str(LicenseTier.PROFESSIONAL) == "professional"
    assert f"{LicenseTier.ENTERPRISE}" == "enterprise"
    assert LicenseTier.PROFESSIONAL.display_name == "Professional"
    assert LicenseTier.COMMUNITY.display_name == "Community"
    assert [t.is_paid for t in LicenseTier] == [False, True, True]
    assert LicenseTier("enterprise") is LicenseTier.ENTERPRISE


# --- 1.2 LicenseLimits ----------------------------------------------------------------------------------


def test_license_limits_defaults_and_construction() -> None:
    names = [f.name for f in dataclasses.fields(LicenseLimits)]
    assert names == ["max_concurrent_pipelines", "max_agents_per_pipeline", "max_parallel_agents", "max_teams",
                     "max_snapshots", "process_mining", "audit_trail", "multi_tenant", "postgres_store",
                     "redis_store", "human_interaction", "external_actions", "features"]
    d = LicenseLimits()
    assert (d.max_concurrent_pipelines, d.max_agents_per_pipeline, d.max_parallel_agents, d.max_teams,
            d.max_snapshots) == (1, 5, 2, 1, 10)
    assert not any([d.process_mining, d.audit_trail, d.multi_tenant, d.postgres_store, d.redis_store,
                    d.human_interaction, d.external_actions])
    assert d.features == set() and "x" not in d.features
    a, b = LicenseLimits(), LicenseLimits()
    a.features.add("x")
    assert b.features == set()  # fresh mutable default
    c = LicenseLimits(max_teams=7, features={"x", "y"}, redis_store=True)
    assert c.max_teams == 7 and "x" in c.features and c.redis_store
    c.max_teams = 8  # assignable
    assert c.max_teams == 8


# --- 1.3 LICENSE_LIMITS ----------------------------------------------------------------------------------


COMMUNITY_FEATURES = {"basic", "memory_store", "basic_agents", "sequential_execution"}
PRO_FEATURES = COMMUNITY_FEATURES | {"parallel_execution", "process_mining", "postgres_store", "redis_store",
                                     "human_interaction", "external_actions"}


@pytest.mark.parametrize(
    ("tier", "numbers", "flags", "features"),
    [
        (LicenseTier.COMMUNITY, (1, 5, 2, 2, 10), (False,) * 7, COMMUNITY_FEATURES),
        (LicenseTier.PROFESSIONAL, (5, 20, 10, 10, 100), (True, False, False, True, True, True, True), PRO_FEATURES),
        (LicenseTier.ENTERPRISE, (999999,) * 5, (True,) * 7, {"*"}),
    ],
)
def test_license_limits_table(tier: LicenseTier, numbers: tuple[int, ...], flags: tuple[bool, ...],
                              features: set[str]) -> None:
    lim = LICENSE_LIMITS[tier]
    assert (lim.max_concurrent_pipelines, lim.max_agents_per_pipeline, lim.max_parallel_agents, lim.max_teams,
            lim.max_snapshots) == numbers
    assert (lim.process_mining, lim.audit_trail, lim.multi_tenant, lim.postgres_store, lim.redis_store,
            lim.human_interaction, lim.external_actions) == flags
    assert set(lim.features) == features
    assert isinstance(lim, LicenseLimits)


def test_tier_limits_alias_and_read_only_table() -> None:
    assert TIER_LIMITS is LICENSE_LIMITS
    assert set(LICENSE_LIMITS) == set(LicenseTier)
    with pytest.raises(TypeError):
        LICENSE_LIMITS[LicenseTier.COMMUNITY] = LicenseLimits()  # type: ignore[index]
    entry = LICENSE_LIMITS[LicenseTier.COMMUNITY]
    with pytest.raises(Exception):  # noqa: B017,PT011 - frozen: any refusal is fine
        entry.max_concurrent_pipelines = 100
    with pytest.raises((AttributeError, TypeError)):
        entry.features.add("parallel_execution")
    assert LICENSE_LIMITS[LicenseTier.COMMUNITY].max_concurrent_pipelines == 1
    assert "parallel_execution" not in LICENSE_LIMITS[LicenseTier.COMMUNITY].features


def test_manager_limits_mutation_never_leaks() -> None:
    m1 = LicenseManager(tier=LicenseTier.COMMUNITY)
    m2 = LicenseManager(tier=LicenseTier.COMMUNITY)
    lim = m1.limits
    try:
        lim.max_parallel_agents = 99
        lim.features.add("parallel_execution")
    except (AttributeError, TypeError, dataclasses.FrozenInstanceError):
        pass  # read-only is also allowed
    assert m2.limits.max_parallel_agents == 2
    assert "parallel_execution" not in m2.limits.features
    assert m1.limits.max_parallel_agents == 2
    assert LICENSE_LIMITS[LicenseTier.COMMUNITY].max_parallel_agents == 2
    assert not m2.has_feature("parallel_execution")


# --- 1.4 License ------------------------------------------------------------------------------------------


def _license(expires: datetime, **kw: Any) -> License:
    return License("LLMT-PRO-ACME-20991231-XYZ", LicenseTier.PROFESSIONAL, "ACME", "a@b.c", expires,
                   datetime.now(), **kw)


def test_license_dataclass_fields_and_defaults() -> None:
    names = [f.name for f in dataclasses.fields(License)]
    assert names[:8] == ["key", "tier", "owner", "owner_email", "expires_at", "issued_at", "features", "limits"]
    a = _license(datetime(2099, 1, 1))
    b = License(key="k", tier=LicenseTier.ENTERPRISE, owner="o", owner_email="", expires_at=datetime(2099, 1, 1),
                issued_at=datetime.now())
    assert a.features == [] and a.limits == {}
    a.features.append("x")
    a.limits["y"] = 1
    assert b.features == [] and b.limits == {}
    b.owner = "changed"
    assert b.owner == "changed"


def test_license_expiry_is_end_of_day_and_days_remaining() -> None:
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert not _license(today).is_expired  # valid through the end of its day
    assert _license(today).days_remaining == 0
    assert _license(today - timedelta(days=1)).is_expired
    assert _license(today - timedelta(days=30)).days_remaining == 0  # never negative
    assert _license(today + timedelta(days=10)).days_remaining in (9, 10)
    assert not _license(today + timedelta(days=10)).is_expired


def test_license_to_dict() -> None:
    expires = datetime(2099, 12, 31)
    d = _license(expires, features=["basic"]).to_dict()
    assert set(d) == {"key", "tier", "owner", "expires_at", "days_remaining", "features"}
    assert d["key"] == "LLMT-PRO-A..."
    assert d["tier"] == "professional"
    assert d["owner"] == "ACME"
    assert d["expires_at"] == expires.isoformat()
    assert isinstance(d["days_remaining"], int) and d["days_remaining"] > 0
    assert d["features"] == ["basic"]


# --- 1.5 / 1.6 LicenseManager and keys --------------------------------------------------------------------


def test_manager_defaults_to_community_and_fixed_tier() -> None:
    m = LicenseManager()
    assert m.tier is LicenseTier.COMMUNITY and m.current_tier is LicenseTier.COMMUNITY
    assert m.get_tier() is LicenseTier.COMMUNITY and m.license is None
    f = LicenseManager(LicenseTier.ENTERPRISE)
    assert f.tier is f.current_tier is f.get_tier() is LicenseTier.ENTERPRISE
    assert f.license is None
    assert f.limits.max_teams == 999999
    f.deactivate()
    assert f.get_tier() == LicenseTier.COMMUNITY


def test_fixed_tier_skips_loading(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", signer.key("ENT"))
    m = LicenseManager(tier=LicenseTier.PROFESSIONAL)
    assert m.license is None and m.tier is LicenseTier.PROFESSIONAL
    assert LicenseManager().tier is LicenseTier.ENTERPRISE


@pytest.mark.parametrize(("code", "tier"), [("COM", LicenseTier.COMMUNITY), ("PRO", LicenseTier.PROFESSIONAL),
                                            ("ENT", LicenseTier.ENTERPRISE)])
def test_activate_signed_key(signer: Signer, code: str, tier: LicenseTier) -> None:
    m = LicenseManager()
    key = signer.key(code, "ACME_CORP_1")
    before = datetime.now()
    result = m.activate(key)
    assert isinstance(result, License)
    assert m.license is result
    assert result.tier is tier and m.tier is tier and m.current_tier is tier and m.get_tier() is tier
    assert result.owner == "ACME_CORP_1" and result.owner_email == ""
    assert before <= result.issued_at <= datetime.now()
    assert result.expires_at.date() == FAR
    expected = ["basic", "memory_store"]
    if tier is not LicenseTier.COMMUNITY:
        expected = PRO_LIC_FEATURES
    if tier is LicenseTier.ENTERPRISE:
        expected = [*PRO_LIC_FEATURES, "multi_tenant", "audit_trail", "sso", "priority_support"]
    assert sorted(result.features) == sorted(expected)
    assert getattr(result, "verified", True) is True
    m.deactivate()
    assert m.license is None and m.tier is LicenseTier.COMMUNITY


def test_key_normalisation(signer: Signer) -> None:
    key = signer.key("ENT", "LOW_CASE")
    assert LicenseManager().activate("  " + key.lower() + "\n").tier is LicenseTier.ENTERPRISE


def test_public_key_as_base64_text(signer_keys: Signer) -> None:
    LicenseManager.configure(public_key=signer_keys.public_b64)
    assert LicenseManager().activate(signer_keys.key()).tier is LicenseTier.PROFESSIONAL


def test_public_key_from_env_is_not_a_trust_anchor(signer_keys: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 11 item 3 (hardening over §1.6's env clause): the environment cannot name the issuer, or whoever sets it
    # mints licences; the explicit configure(public_key=...) stays the one override.
    monkeypatch.setenv("LLMTEAM_LICENSE_PUBLIC_KEY", signer_keys.public_b64)
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(signer_keys.key())
    LicenseManager.configure(public_key=signer_keys.public_b64)
    assert LicenseManager().activate(signer_keys.key()).tier is LicenseTier.PROFESSIONAL


def test_no_public_key_means_no_signed_key_verifies(signer_keys: Signer) -> None:
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(signer_keys.key())


def test_other_issuer_signature_rejected(signer: Signer) -> None:
    forger = Signer()
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(forger.key("ENT"))


def test_tampered_body_rejected(signer: Signer) -> None:
    key = signer.key("PRO", "ACME")
    forged = key.replace("LLMT-PRO-", "LLMT-ENT-", 1)
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(forged)
    later = signer.key("PRO", "ACME", date(2099, 12, 30)).rsplit("-", 1)[1]
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(f"LLMT-PRO-ACME-20991231-{later}")


def test_unsigned_key_not_accepted_by_default(signer: Signer) -> None:
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate("LLMT-ENT-ACME-20991231")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "LLMT",
        "LLMT-PRO",
        "LLMT-PRO-ACME",
        "LLMT-XXX-ACME-20991231",
        "LLMT--ACME-20991231",
        "LLMT-PRO--20991231",
        "LLMT-PRO-ACME-",
        "LLMT-PRO-ACME-20991231-",
        "LLMT-PRO-ACME-20991231-AAAA-BBBB",
        "XXXX-PRO-ACME-20991231",
        "LLMT-PRO-ACME-20990231",  # not a calendar date
        "LLMT-PRO-ACME-2099123",
        "LLMT-PRO-ACME-209912311",
        "LLMT-PRO-" + "A" * 65 + "-20991231",
        "LLMT-PRO-AC ME-20991231",
        "LLMT-PRO-ACME-20991231-" + "A" * 103,  # well-formed but wrong signature
        "LLMT-PRO-ACME-20991231-" + "1" * 103,  # not base32
        "LLMT-PRO-ACME-20991231-ABC",
    ],
)
def test_malformed_keys_raise_validation_error(signer: Signer, bad: str) -> None:
    m = LicenseManager()
    with pytest.raises(LicenseValidationError):
        m.activate(bad)
    assert m.license is None and m.tier is LicenseTier.COMMUNITY


def test_owner_charset_bounds(signer: Signer) -> None:
    assert LicenseManager().activate(signer.key("PRO", "A" * 64)).owner == "A" * 64
    assert LicenseManager().activate(signer.key("PRO", "X_9")).owner == "X_9"


def test_expired_key_raises_expired_and_changes_nothing(signer: Signer) -> None:
    m = LicenseManager()
    good = m.activate(signer.key("PRO"))
    with pytest.raises(LicenseExpiredError):
        m.activate(signer.key("ENT", expires=date.today() - timedelta(days=1)))
    assert m.license is good and m.tier is LicenseTier.PROFESSIONAL


def test_key_valid_through_its_expiry_day(signer: Signer) -> None:
    result = LicenseManager().activate(signer.key("PRO", expires=date.today()))
    assert not result.is_expired and result.days_remaining == 0


def test_bad_signature_takes_precedence_over_expiry_not_required(signer: Signer) -> None:
    # both errors are acceptable for an expired forged key, but never success
    forger = Signer()
    with pytest.raises((LicenseValidationError, LicenseExpiredError)):
        LicenseManager().activate(forger.key("PRO", expires=date(2000, 1, 1)))


def test_instances_are_independent(signer: Signer) -> None:
    a, b = LicenseManager(), LicenseManager()
    a.activate(signer.key("ENT"))
    assert a.tier is LicenseTier.ENTERPRISE
    assert b.tier is LicenseTier.COMMUNITY and b.license is None
    LicenseManager.instance().activate(signer.key("PRO"))
    assert b.tier is LicenseTier.COMMUNITY
    assert LicenseManager().tier is LicenseTier.COMMUNITY
    a.deactivate()
    assert LicenseManager.instance().tier is LicenseTier.PROFESSIONAL


def test_singleton_and_reset(signer: Signer) -> None:
    first = LicenseManager.instance()
    assert LicenseManager.instance() is first
    first.activate(signer.key("ENT"))
    LicenseManager.reset()
    second = LicenseManager.instance()
    assert second is not first and second.tier is LicenseTier.COMMUNITY


def test_load_from_env(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", signer.key("ENT"))
    m = LicenseManager()
    assert m.tier is LicenseTier.ENTERPRISE and m.license is not None


@pytest.mark.parametrize("where", ["home", "dot_dir", "cwd"])
def test_load_from_key_files(signer: Signer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    path = {"home": home / ".llmteam" / "license.key", "dot_dir": work / ".llmteam" / "license.key",
            "cwd": work / "license.key"}[where]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(signer.key("PRO") + "\n")
    assert LicenseManager().tier is LicenseTier.PROFESSIONAL


def test_env_wins_over_files_and_home_file_first(signer: Signer, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".llmteam").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    (home / ".llmteam" / "license.key").write_text(signer.key("ENT"))
    (tmp_path / "license.key").write_text(signer.key("COM"))
    assert LicenseManager().tier is LicenseTier.ENTERPRISE
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", signer.key("PRO"))
    assert LicenseManager().tier is LicenseTier.PROFESSIONAL


@pytest.mark.parametrize("kind", ["garbage", "forged", "expired"])
def test_load_failure_is_logged_and_ignored(signer: Signer, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture, kind: str) -> None:
    key = {"garbage": "not-a-key", "forged": Signer().key("ENT"),
           "expired": signer.key("ENT", expires=date(2001, 1, 1))}[kind]
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", key)
    with caplog.at_level(logging.DEBUG, logger="llmteam"):
        m = LicenseManager()
    assert m.tier is LicenseTier.COMMUNITY and m.license is None
    assert caplog.records, "a failed load must be logged"


def test_has_tier(signer: Signer) -> None:
    c = LicenseManager(LicenseTier.COMMUNITY)
    assert c.has_tier(LicenseTier.COMMUNITY)
    assert not c.has_tier(LicenseTier.PROFESSIONAL) and not c.has_tier(LicenseTier.ENTERPRISE)
    p = LicenseManager()
    p.activate(signer.key("PRO"))
    assert p.has_tier(LicenseTier.COMMUNITY) and p.has_tier(LicenseTier.PROFESSIONAL)
    assert not p.has_tier(LicenseTier.ENTERPRISE)
    assert LicenseManager(LicenseTier.ENTERPRISE).has_tier(LicenseTier.ENTERPRISE)


def test_license_expiring_while_active_drops_tier(signer: Signer) -> None:
    m = LicenseManager()
    active = m.activate(signer.key("ENT"))
    active.expires_at = datetime.now() - timedelta(days=2)  # the licence has expired meanwhile
    assert m.tier is LicenseTier.COMMUNITY
    assert not m.has_tier(LicenseTier.PROFESSIONAL)
    assert m.has_tier(LicenseTier.COMMUNITY)


def test_has_feature_and_check_feature(signer: Signer) -> None:
    c = LicenseManager(LicenseTier.COMMUNITY)
    for f in COMMUNITY_FEATURES:
        assert c.has_feature(f) and c.check_feature(f)
    assert not c.has_feature("parallel_execution") and not c.check_feature("process_mining")
    e = LicenseManager(LicenseTier.ENTERPRISE)
    assert e.has_feature("anything_at_all") and e.check_feature("sso")
    p = LicenseManager()
    p.activate(signer.key("PRO"))
    assert p.has_feature("parallel_execution")
    assert not p.has_feature("sso")
    # a licence's own features count too
    ent = LicenseManager()
    ent.activate(signer.key("ENT"))
    assert ent.has_feature("priority_support")


def test_license_features_list_is_honoured(signer: Signer) -> None:
    m = LicenseManager()
    m.activate(signer.key("COM"))
    assert not m.has_feature("custom_addon")
    assert m.license is not None
    m.license.features.append("custom_addon")
    assert m.has_feature("custom_addon") and m.check_feature("custom_addon")


def test_numeric_checks() -> None:
    c = LicenseManager(LicenseTier.COMMUNITY)
    assert c.check_concurrent_limit(0) and not c.check_concurrent_limit(1)
    assert c.check_agents_limit(5) and not c.check_agents_limit(6)
    assert c.check_parallel_limit(2) and not c.check_parallel_limit(3)
    assert c.check_limit("max_teams", 1) and not c.check_limit("max_teams", 2)
    assert c.check_limit("max_snapshots", 9) and not c.check_limit("max_snapshots", 10)
    assert c.check_limit("no_such_limit", 10**9)
    p = LicenseManager(LicenseTier.PROFESSIONAL)
    assert p.check_concurrent_limit(4) and not p.check_concurrent_limit(5)
    assert p.check_agents_limit(20) and p.check_parallel_limit(10) and not p.check_parallel_limit(11)


def test_enforce_returns_new_config_with_capped_concurrency() -> None:
    cfg = ExecutorConfig(ExecutionMode.PARALLEL, 8, 50, 12.0, 99.0, 7, 0.5, False, 0.3)
    out = LicenseManager(LicenseTier.COMMUNITY).enforce(cfg)
    assert out is not cfg
    assert cfg.max_concurrent == 8
    assert out.max_concurrent == 2
    assert dataclasses.replace(out, max_concurrent=8) == cfg
    out2 = LicenseManager(LicenseTier.ENTERPRISE).enforce(cfg)
    assert out2 == cfg and out2 is not cfg
    small = ExecutorConfig(max_concurrent=1)
    assert LicenseManager(LicenseTier.PROFESSIONAL).enforce(small).max_concurrent == 1


def test_get_limits_dict() -> None:
    d = LicenseManager(LicenseTier.PROFESSIONAL).get_limits()
    assert set(d) == {"tier", "max_concurrent_pipelines", "max_agents_per_pipeline", "max_parallel_agents",
                      "features"}
    assert d["tier"] == "professional"
    assert (d["max_concurrent_pipelines"], d["max_agents_per_pipeline"], d["max_parallel_agents"]) == (5, 20, 10)
    assert isinstance(d["features"], list) and set(d["features"]) == PRO_FEATURES


def test_get_info_dict(signer: Signer) -> None:
    info = LicenseManager(LicenseTier.COMMUNITY).get_info()
    assert set(info) == {"tier", "license", "limits", "features"}
    assert info["tier"] == "community" and info["license"] is None
    assert info["limits"] == {"max_concurrent_pipelines": 1, "max_agents_per_pipeline": 5,
                              "max_parallel_agents": 2, "max_teams": 2}
    assert info["features"] == {"process_mining": False, "audit_trail": False, "multi_tenant": False,
                                "postgres_store": False, "human_interaction": False}
    m = LicenseManager()
    active = m.activate(signer.key("ENT"))
    info = m.get_info()
    assert info["tier"] == "enterprise"
    assert info["license"] == active.to_dict()
    assert all(info["features"].values())


def test_print_status(capsys: pytest.CaptureFixture[str]) -> None:
    LicenseManager(LicenseTier.PROFESSIONAL).print_status()
    assert "professional" in capsys.readouterr().out.lower()
    lic.print_license_status()
    assert capsys.readouterr().out.strip()


# --- 1.7 module functions ------------------------------------------------------------------------------


def test_module_functions_track_current_singleton(signer: Signer) -> None:
    m1 = lic.get_license_manager()
    assert m1 is LicenseManager.instance()
    LicenseManager.reset()
    m2 = lic.get_license_manager()
    assert m2 is not m1 and m2 is LicenseManager.instance()
    result = lic.activate(signer.key("ENT"))
    assert isinstance(result, License)
    assert lic.get_tier() is LicenseTier.ENTERPRISE
    assert m2.tier is LicenseTier.ENTERPRISE
    assert lic.has_feature("anything")
    with pytest.raises(LicenseValidationError):
        lic.activate("LLMT-BAD")
    with pytest.raises(LicenseExpiredError):
        lic.activate(signer.key("PRO", expires=date(2001, 1, 1)))
    LicenseManager.reset()
    assert lic.get_tier() is LicenseTier.COMMUNITY


# --- 1.8 exceptions and decorators --------------------------------------------------------------------


def test_exceptions() -> None:
    assert issubclass(LicenseValidationError, Exception) and issubclass(LicenseExpiredError, Exception)
    err = FeatureNotLicensedError("process_mining", LicenseTier.PROFESSIONAL)
    assert isinstance(err, Exception)
    assert err.feature == "process_mining" and err.required_tier is LicenseTier.PROFESSIONAL
    text = str(err)
    assert "process_mining" in text
    assert "professional" in text.lower()
    kw = FeatureNotLicensedError(feature="f", required_tier=LicenseTier.ENTERPRISE)
    assert kw.required_tier is LicenseTier.ENTERPRISE


def _gated(decorator: Callable[[Any], Any]) -> tuple[Any, Any]:
    @decorator
    def sync_fn(x: int, *, y: int = 1) -> int:
        """Sync doc."""
        return x + y

    @decorator
    async def async_fn(x: int) -> int:
        """Async doc."""
        await asyncio.sleep(0)
        return x * 2

    return sync_fn, async_fn


async def test_require_tier_sync_and_async(signer: Signer) -> None:
    sync_fn, async_fn = _gated(lic.require_tier(LicenseTier.PROFESSIONAL))
    assert sync_fn.__name__ == "sync_fn" and sync_fn.__doc__ == "Sync doc."
    assert async_fn.__name__ == "async_fn" and async_fn.__doc__ == "Async doc."
    assert inspect.iscoroutinefunction(async_fn)
    assert not inspect.iscoroutinefunction(sync_fn)
    with pytest.raises(FeatureNotLicensedError) as info:
        sync_fn(1)
    assert info.value.feature.endswith("sync_fn") and "<locals>" in info.value.feature
    assert info.value.required_tier is LicenseTier.PROFESSIONAL
    with pytest.raises(FeatureNotLicensedError):
        await async_fn(1)
    lic.activate(signer.key("PRO"))
    assert sync_fn(1, y=2) == 3
    assert await async_fn(4) == 8
    LicenseManager.reset()  # the check is made before each call, against the current singleton
    with pytest.raises(FeatureNotLicensedError):
        sync_fn(1)


async def test_require_professional_and_enterprise(signer: Signer) -> None:
    pro_sync, pro_async = _gated(lic.require_professional)
    ent_sync, _ = _gated(lic.require_enterprise)
    with pytest.raises(FeatureNotLicensedError):
        pro_sync(1)
    lic.activate(signer.key("PRO"))
    assert pro_sync(1) == 2 and await pro_async(1) == 2
    with pytest.raises(FeatureNotLicensedError) as info:
        ent_sync(1)
    assert info.value.required_tier is LicenseTier.ENTERPRISE
    lic.activate(signer.key("ENT"))
    assert ent_sync(1) == 2


def test_class_decorators(signer: Signer) -> None:
    @lic.professional_only
    class Miner:
        def __init__(self, x: int) -> None:
            self.x = x

    @lic.enterprise_only
    class Tenants:
        pass

    assert Miner.__name__ == "Miner" and isinstance(Miner, type)
    assert Miner._requires_tier is LicenseTier.PROFESSIONAL  # type: ignore[attr-defined]
    assert Tenants._requires_tier is LicenseTier.ENTERPRISE  # type: ignore[attr-defined]
    with pytest.raises(FeatureNotLicensedError) as info:
        Miner(1)
    assert info.value.feature == "Miner" and info.value.required_tier is LicenseTier.PROFESSIONAL
    with pytest.raises(FeatureNotLicensedError) as info2:
        Tenants()
    assert info2.value.feature == "Tenants"
    lic.activate(signer.key("PRO"))
    assert Miner(3).x == 3
    with pytest.raises(FeatureNotLicensedError):
        Tenants()


def test_decorators_enforce_even_without_enforce_env(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "0")

    @lic.require_enterprise
    def f() -> int:
        return 1

    with pytest.raises(FeatureNotLicensedError):
        f()


# --- gating policy --------------------------------------------------------------------------------------


def test_builtin_classes_not_gated_by_default() -> None:
    from llmteam.roles import ProcessMiningEngine
    from llmteam.tenancy import TenantManager
    from llmteam.tenancy.stores import MemoryTenantStore

    assert lic.get_tier() is LicenseTier.COMMUNITY
    TenantManager(MemoryTenantStore())
    ProcessMiningEngine()


def test_builtin_gates_when_enforced(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmteam.roles import ProcessMiningEngine
    from llmteam.tenancy import TenantManager
    from llmteam.tenancy.stores import MemoryTenantStore

    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")
    with pytest.raises(FeatureNotLicensedError) as info:
        TenantManager(MemoryTenantStore())
    assert info.value.required_tier is LicenseTier.ENTERPRISE
    with pytest.raises(FeatureNotLicensedError) as info2:
        ProcessMiningEngine()
    assert info2.value.required_tier is LicenseTier.PROFESSIONAL
    lic.activate(signer.key("PRO"))
    ProcessMiningEngine()
    with pytest.raises(FeatureNotLicensedError):
        TenantManager(MemoryTenantStore())
    lic.activate(signer.key("ENT"))
    TenantManager(MemoryTenantStore())


# --- module import rules ------------------------------------------------------------------------------


def test_exports_every_contract_name() -> None:
    names = {"LicenseTier", "LicenseLimits", "LICENSE_LIMITS", "TIER_LIMITS", "License", "LicenseManager",
             "get_license_manager", "activate", "get_tier", "has_feature", "print_license_status",
             "LicenseValidationError", "LicenseExpiredError", "FeatureNotLicensedError", "require_tier",
             "require_professional", "require_enterprise", "professional_only", "enterprise_only"}
    assert names <= set(lic.__all__)
    for name in names:
        assert getattr(lic, name) is not None


def test_import_is_light_and_self_contained() -> None:
    code = (
        "import sys, llmteam.licensing\n"
        "bad = [m for m in ('cryptography', 'asyncpg', 'redis', 'httpx') if m in sys.modules]\n"
        "others = [m for m in sys.modules if m.startswith('llmteam.') and not m.startswith('llmteam.licensing')\n"
        "          and m != 'llmteam._exceptions']  # the error root: the ground floor, stdlib only\n"
        "assert not bad, bad\n"
        "assert not others, others\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
