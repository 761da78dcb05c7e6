from __future__ import annotations

import dataclasses
import logging
import os
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.execution import ExecutionMode, ExecutorConfig
from llmteam.licensing import (
    LICENSE_LIMITS,
    LicenseExpiredError,
    LicenseManager,
    LicenseTier,
    LicenseValidationError,
    _manager,
)
from llmteam.licensing._activation import end_of_day_timestamp
from llmteam.licensing._tiers import LICENSE_FEATURES

C, P, E = LicenseTier.COMMUNITY, LicenseTier.PROFESSIONAL, LicenseTier.ENTERPRISE
UNSIGNED = "LLMT-ENT-OLDCO-20991231"
ALL_NAMES = frozenset().union(*(lim.features for lim in LICENSE_LIMITS.values()), *LICENSE_FEATURES.values()) - {"*"}


def test_default_is_community() -> None:
    m = LicenseManager()
    assert m.tier is C and m.current_tier is C and m.get_tier() is C and m.license is None


def test_fixed_tier_loads_nothing(issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", issuer.key("ENT"))
    m = LicenseManager(P)
    assert m.tier is P and m.license is None
    with pytest.raises(TypeError, match="'professional'"):
        LicenseManager("professional")  # type: ignore[arg-type]


def test_activate_signed_key(issuer) -> None:
    m = LicenseManager()
    lic = m.activate(issuer.key("PRO", "ACME", date(2099, 12, 31)))
    assert m.tier is P and m.license is lic and lic.verified is True
    assert (lic.owner, lic.owner_email, lic.expires_at) == ("ACME", "", datetime(2099, 12, 31))
    assert lic.features == [
        "basic", "memory_store", "process_mining", "postgres_store", "redis_store", "human_interaction",
        "external_actions",
    ]
    assert abs((lic.issued_at - datetime.now()).total_seconds()) < 5
    ent = m.activate(issuer.key("ENT")).features
    assert ent[-4:] == ["multi_tenant", "audit_trail", "sso", "priority_support"]
    assert m.activate(issuer.key("COM")).features == ["basic", "memory_store"]


def test_failed_activation_changes_nothing(issuer) -> None:
    m = LicenseManager()
    lic = m.activate(issuer.key("PRO"))
    with pytest.raises(LicenseValidationError):
        m.activate("LLMT-ENT-ACME-20991231-" + "A" * 103)
    assert m.license is lic and m.tier is P


def test_key_valid_through_its_expiry_day(issuer) -> None:
    assert LicenseManager().activate(issuer.key(expires=date.today())).is_expired is False
    yesterday = date.today() - timedelta(days=1)
    with pytest.raises(LicenseExpiredError, match=yesterday.isoformat()):
        LicenseManager().activate(issuer.key(expires=yesterday))


def test_unsigned_key_refused_without_legacy_mode() -> None:
    with pytest.raises(LicenseValidationError, match="signature.*required") as info:
        LicenseManager().activate(UNSIGNED)
    assert "configure(allow_unsigned=True)" in str(info.value)


def test_unsigned_key_in_legacy_mode_is_a_community_key(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_ALLOW_UNSIGNED", "1")  # ignored: only the explicit API turns it on
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(UNSIGNED)
    LicenseManager.configure(allow_unsigned=True)
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        lic = LicenseManager().activate(UNSIGNED)
    assert lic.verified is False and lic.tier is C and lic.owner == "OLDCO"
    assert "UNSIGNED" in caplog.text and "claims enterprise" in caplog.text


def test_configure_keeps_omitted_settings(issuer) -> None:
    LicenseManager.configure(allow_unsigned=True)
    LicenseManager().activate(issuer.key())  # public key still configured
    LicenseManager.configure(public_key=issuer.public_b64)
    assert LicenseManager().activate(UNSIGNED).verified is False  # legacy mode still on
    with pytest.raises(TypeError):
        LicenseManager.configure(allow_unsigned="yes")  # type: ignore[arg-type]


def test_load_from_env(issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", issuer.key("ENT"))
    assert LicenseManager().tier is E


@pytest.mark.parametrize("where", ["home", "dot_dir", "cwd"])
def test_load_from_files(where: str, issuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = {
        "home": Path.home() / ".llmteam" / "license.key",
        "dot_dir": tmp_path / ".llmteam" / "license.key",
        "cwd": tmp_path / "license.key",
    }[where]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(issuer.key("ENT") + "\n")
    assert LicenseManager().tier is E


def test_env_wins_over_files(issuer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "license.key").write_text(issuer.key("ENT"))
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", issuer.key("PRO"))
    assert LicenseManager().tier is P


def test_bad_loaded_key_is_logged_and_ignored(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", "LLMT-GOLD-ACME-20991231")
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        m = LicenseManager()
    assert m.tier is C and m.license is None
    assert "GOLD" in caplog.text and "COMMUNITY" in caplog.text


def test_singleton_and_reset(issuer) -> None:
    a = LicenseManager.instance()
    assert LicenseManager.instance() is a
    a.activate(issuer.key("ENT"))
    LicenseManager.reset()
    b = LicenseManager.instance()
    assert b is not a and b.tier is C


def test_instances_are_independent(issuer) -> None:
    single, other = LicenseManager.instance(), LicenseManager()
    single.activate(issuer.key("ENT"))
    assert other.tier is C and other.license is None
    other.activate(issuer.key("PRO"))
    assert single.tier is E


def test_deactivate_clears_fixed_tier_and_licence(issuer) -> None:
    m = LicenseManager(E)
    m.activate(issuer.key("PRO"))
    assert m.tier is E  # a fixed tier wins
    m.deactivate()
    assert m.tier is C and m.license is None


def test_has_tier(issuer) -> None:
    assert LicenseManager().has_tier(C) and not LicenseManager().has_tier(P)
    ent = LicenseManager(E)
    assert ent.has_tier(C) and ent.has_tier(P) and ent.has_tier(E)
    pro = LicenseManager()
    pro.activate(issuer.key("PRO"))
    assert pro.has_tier(P) and not pro.has_tier(E)


def test_expiry_while_active_drops_to_community(issuer) -> None:
    m = LicenseManager()
    lic = m.activate(issuer.key("ENT"))
    lic.features.append("custom")
    assert m.tier is E and m.has_feature("custom")
    lic.expires_at = datetime.now() - timedelta(days=2)
    assert m.tier is C and not m.has_tier(P) and m.has_tier(C)
    assert not m.has_feature("custom") and not m.has_feature("parallel_execution")


def test_has_feature_sources(issuer) -> None:
    com = LicenseManager()
    assert com.has_feature("basic") and com.check_feature("basic_agents") and not com.has_feature("process_mining")
    assert LicenseManager(E).has_feature("anything_at_all")
    pro = LicenseManager()
    lic = pro.activate(issuer.key("PRO"))
    assert pro.has_feature("parallel_execution") and not pro.has_feature("sso")
    lic.features.append("custom_addon")  # a licence's own list adds names no tier decides
    assert pro.has_feature("custom_addon")


def test_numeric_checks() -> None:
    com, pro = LicenseManager(C), LicenseManager(P)
    assert com.check_concurrent_limit(0) and not com.check_concurrent_limit(1)
    assert com.check_agents_limit(5) and not com.check_agents_limit(6)
    assert com.check_parallel_limit(2) and not com.check_parallel_limit(3)
    assert pro.check_parallel_limit(10) and not pro.check_parallel_limit(11)
    assert com.check_limit("max_teams", 1) and not com.check_limit("max_teams", 2)
    assert com.check_limit("no_such_limit", 10**9) and com.check_limit("process_mining", 5)


def test_enforce_returns_capped_copy() -> None:
    cfg = ExecutorConfig(mode=ExecutionMode.PARALLEL, max_concurrent=50, queue_size=7, task_timeout=3.0)
    out = LicenseManager(C).enforce(cfg)
    assert out is not cfg and cfg.max_concurrent == 50
    assert out == dataclasses.replace(cfg, max_concurrent=2)
    assert LicenseManager(E).enforce(cfg).max_concurrent == 50


def test_get_limits_and_info(issuer) -> None:
    assert LicenseManager(P).get_limits() == {
        "tier": "professional", "max_concurrent_pipelines": 5, "max_agents_per_pipeline": 20,
        "max_parallel_agents": 10, "features": sorted(LICENSE_LIMITS[P].features),
    }
    m = LicenseManager()
    assert m.get_info()["license"] is None
    m.activate(issuer.key("ENT"))
    info = m.get_info()
    assert info["tier"] == "enterprise" and info["license"]["owner"] == "ACME"
    assert info["limits"] == {
        "max_concurrent_pipelines": 999999, "max_agents_per_pipeline": 999999, "max_parallel_agents": 999999,
        "max_teams": 999999,
    }
    assert info["features"] == dict.fromkeys(
        ["process_mining", "audit_trail", "multi_tenant", "postgres_store", "human_interaction"], True
    )


def test_print_status(issuer, capsys) -> None:
    m = LicenseManager()
    m.print_status()
    assert "Community" in capsys.readouterr().out
    m.activate(issuer.key("PRO", "ACME"))
    m.print_status()
    out = capsys.readouterr().out
    assert "Professional" in out and "ACME" in out and "2099-12-31" in out and "OVERRIDE" in out


def test_a_perpetual_licence_expiring_on_the_last_date_is_valid_through_it(issuer, capsys) -> None:
    """9999-12-31, which `llmteam license issue` accepts, has no next day: it overflowed to a bare ValueError."""
    m = LicenseManager()
    lic = m.activate(issuer.key("ENT", expires=date.max))
    assert m.tier is E and m.has_tier(E) and m.has_feature("sso") and not lic.is_expired
    assert m.get_info()["license"]["expires_at"] == "9999-12-31T00:00:00" and lic.days_remaining > 0
    m.print_status()
    assert "9999-12-31" in capsys.readouterr().out


def _construct_in_thread(fifo: Path) -> LicenseManager | None:
    """Build a manager in a thread; if it is stuck opening ``fifo`` (the old behaviour), release it and return None."""
    result: list[LicenseManager] = []
    thread = threading.Thread(target=lambda: result.append(LicenseManager()), daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():  # blocked in open() waiting for a writer: give it one so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join()
        return None
    return result[0]


def test_a_fifo_key_file_is_skipped_not_waited_on(issuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog) -> None:
    """A FIFO planted as ./.llmteam/license.key used to hang the first licence lookup until someone wrote to it."""
    monkeypatch.chdir(tmp_path)
    fifo = tmp_path / ".llmteam" / "license.key"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    (tmp_path / "license.key").write_text(issuer.key("ENT"))
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        m = _construct_in_thread(fifo)
    assert m is not None, "the licence lookup blocked on a FIFO"
    assert m.tier is E  # the next candidate, a regular file, is still used
    assert "not a regular file" in caplog.text and str(Path(".llmteam") / "license.key") in caplog.text


@pytest.mark.parametrize("kind", ["directory", "symlink"])
def test_a_key_path_that_is_not_a_regular_file_is_skipped(kind: str, issuer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    if kind == "directory":
        (tmp_path / "license.key").mkdir()
    else:  # never followed: whoever can plant a link in a shared directory chooses what is opened
        (tmp_path / "real.key").write_text(issuer.key("ENT"))
        (tmp_path / "license.key").symlink_to(tmp_path / "real.key")
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        m = LicenseManager()
    assert m.tier is C and m.license is None
    assert "license.key" in caplog.text and kind in caplog.text


def test_key_file_read_is_bounded(issuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first 4096 bytes count: what follows cannot spoil (or inflate) the key."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "license.key").write_text(issuer.key("ENT") + " " * 5000 + "TRAILING-GARBAGE")
    assert LicenseManager().tier is E


def test_editing_the_returned_licence_never_widens_it(issuer) -> None:
    """activate() hands out the manager's live License; editing it used to upgrade tier, features and expiry."""
    m = LicenseManager()
    lic = m.activate(issuer.key("COM", expires=date.today() + timedelta(days=3)))
    lic.tier = E
    lic.features += ["multi_tenant", "sso", "*"]
    lic.expires_at = datetime(2999, 1, 1)
    lic.verified = True
    assert m.license is lic  # still the object activate() returned (the contract)
    assert m.tier is C and not m.has_tier(P) and not m.has_tier(E)
    assert not m.has_feature("multi_tenant") and not m.has_feature("sso") and not m.has_feature("process_mining")


def test_moving_the_expiry_later_does_not_outlive_the_signed_date(issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    m = LicenseManager()
    expiry = date.today() + timedelta(days=3)
    lic = m.activate(issuer.key("ENT", expires=expiry))
    lic.expires_at = datetime(2999, 1, 1)
    after_expiry = end_of_day_timestamp(expiry) + 1
    monkeypatch.setattr(_manager, "time", SimpleNamespace(time=lambda: after_expiry))  # the signed day has ended
    assert m.tier is C and not m.has_tier(P) and not m.has_feature("sso")


def test_narrowing_edits_still_count(issuer) -> None:
    """The contract lets code mark a licence expired (or lower its tier) by editing it."""
    m = LicenseManager()
    lic = m.activate(issuer.key("ENT"))
    lic.tier = P
    assert m.tier is P and not m.has_tier(E) and not m.has_feature("sso")
    lic.expires_at = datetime.now() - timedelta(days=2)
    assert m.tier is C and not m.has_tier(P)



@settings(max_examples=60, deadline=None)
@given(
    signed=st.sampled_from(["COM", "PRO", "ENT"]),
    tier=st.sampled_from(list(LicenseTier)),
    days=st.integers(min_value=-(10**5), max_value=10**6),
    extra=st.lists(st.sampled_from([*sorted(ALL_NAMES), "*", "custom_addon"]), max_size=6),
)
def test_edits_to_the_licence_never_widen_it(issuer_keys, signed: str, tier: LicenseTier, days: int,
                                             extra: list[str]) -> None:
    """Invariant: whatever is written into the handed-out License, no tier and no tier-decided feature is gained."""
    LicenseManager.configure(public_key=issuer_keys.public_raw)
    m = LicenseManager()
    lic = m.activate(issuer_keys.key(signed))
    before_tier = m.tier
    before = {name: m.has_feature(name) for name in ALL_NAMES}
    lic.tier = tier
    lic.expires_at = datetime(2000, 1, 1) + timedelta(days=days)
    lic.features.extend(extra)
    assert m.tier <= before_tier
    for level in LicenseTier:
        assert not m.has_tier(level) or level <= before_tier
    assert all(before[name] for name in ALL_NAMES if m.has_feature(name))
