"""The pinned trust anchor and the bounded, logged record of overrides."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.licensing import LicenseManager, LicenseTier
from llmteam.licensing._trust import MAX_OVERRIDES, PINNED_ISSUER_KEYS, TrustLog, fingerprint, pinned_keys
from tests.licensing.conftest import Issuer as _Issuer

_OTHER = _Issuer()


def test_pinned_keys_are_valid_ed25519_public_keys() -> None:
    assert len(PINNED_ISSUER_KEYS) >= 1
    for raw in pinned_keys():
        assert len(raw) == 32
        Ed25519PublicKey.from_public_bytes(raw)  # raises if not a key
    assert LicenseManager.trust()["keys"] == [fingerprint(k) for k in pinned_keys()]


def test_fingerprint_names_a_key_without_revealing_more_than_a_prefix_of_its_hash() -> None:
    fp = fingerprint(b"\x01" * 32)
    assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 16
    assert fingerprint(b"\x02" * 32) != fp


def test_trust_log_is_bounded_and_logs_each_override(caplog: pytest.LogCaptureFixture) -> None:
    log = TrustLog()
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        for i in range(MAX_OVERRIDES + 5):
            log.record("public_key", f"sha256:{i:016x}", "test")
    kept = log.records()
    assert len(kept) == MAX_OVERRIDES and kept[-1].value == f"sha256:{MAX_OVERRIDES + 4:016x}"
    logged = [r for r in caplog.records if getattr(r, "llmteam_event", "") == "licence.trust_override"]
    assert len(logged) == MAX_OVERRIDES + 5


def test_ignored_environment_is_reported_once_per_setting(monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    log = TrustLog()
    monkeypatch.setenv("LLMTEAM_LICENSE_ALLOW_UNSIGNED", "1")
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        log.warn_ignored_env()
        log.warn_ignored_env()
        monkeypatch.setenv("LLMTEAM_LICENSE_PUBLIC_KEY", "abc")
        log.warn_ignored_env()
    assert caplog.text.count("ignoring") == 2


def test_restoring_the_pinned_keys_is_not_an_override(caplog: pytest.LogCaptureFixture) -> None:
    before = len(LicenseManager.trust_overrides())
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        LicenseManager.configure(public_key=None, allow_unsigned=False)
    assert len(LicenseManager.trust_overrides()) == before and "overridden" not in caplog.text
    with pytest.raises(TypeError):
        LicenseManager.configure(source="")


def test_restoring_the_pinned_keys_drops_a_licence_only_the_override_verified(issuer, caplog) -> None:
    """configure(X), activate(key by X), configure(None): the licence stayed ENTERPRISE and the audited trust record
    said the pinned issuer vouched for it, though the pinned keys reject it."""
    single, other = LicenseManager.instance(), LicenseManager()
    single.activate(issuer.key("ENT", "ANYONE"))
    other.activate(issuer.key("PRO", "ANYONE"))
    LicenseManager.configure(public_key=None, source="plugin init")
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        assert single.license is None and single.tier is LicenseTier.COMMUNITY
    assert other.tier is LicenseTier.COMMUNITY and not other.has_tier(LicenseTier.PROFESSIONAL)
    assert other.license is None and other.get_info()["license"] is None
    assert LicenseManager.trust()["issuer"] == "pinned"
    assert "dropping the active licence" in caplog.text and "'ANYONE'" in caplog.text
    LicenseManager.configure(public_key=issuer.public_raw)
    assert single.license is None  # dropped means dropped: activate it again under the anchor that accepts it


def test_another_override_key_drops_the_licence_and_the_same_key_keeps_it(issuer) -> None:
    m = LicenseManager()
    lic = m.activate(issuer.key("ENT"))
    LicenseManager.configure(public_key=issuer.public_b64, source="again, as base64")  # the same anchor
    assert m.license is lic and m.tier is LicenseTier.ENTERPRISE
    LicenseManager.configure(public_key=_Issuer().public_raw)
    assert m.license is None and not m.has_feature("sso")


def test_turning_legacy_mode_off_drops_an_unsigned_licence() -> None:
    LicenseManager.configure(allow_unsigned=True)
    m = LicenseManager()
    m.activate("LLMT-COM-OLDCO-20991231")
    LicenseManager.configure(allow_unsigned=False)
    assert m.license is None


_ANCHORS = st.sampled_from(["pinned", "mine", "other"])


@settings(max_examples=40, deadline=None)
@given(signed=st.booleans(), steps=st.lists(st.tuples(_ANCHORS, st.booleans()), max_size=6))
def test_an_active_licence_is_always_one_the_anchor_in_force_accepts(issuer_keys, signed: bool,
                                                                     steps: list[tuple[str, bool]]) -> None:
    """Invariant: after any sequence of configure() calls, observed after each, a manager's licence is there iff
    every anchor in force since its activation accepted its key (once dropped, it stays dropped)."""
    keys = {"pinned": None, "mine": issuer_keys.public_raw, "other": _OTHER.public_raw}
    LicenseManager.configure(public_key=issuer_keys.public_raw, allow_unsigned=True)
    key = issuer_keys.key("ENT") if signed else "LLMT-COM-OLDCO-20991231"
    m = LicenseManager()
    m.activate(key)
    alive = True
    for anchor, allow_unsigned in steps:
        LicenseManager.configure(public_key=keys[anchor], allow_unsigned=allow_unsigned)
        alive = alive and (anchor == "mine" if signed else allow_unsigned)
        assert (m.license is not None) is alive
        assert m.tier is (LicenseTier.ENTERPRISE if alive and signed else LicenseTier.COMMUNITY)
