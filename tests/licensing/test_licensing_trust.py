"""The pinned trust anchor and the bounded, logged record of overrides."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from llmteam.licensing import LicenseManager
from llmteam.licensing._trust import MAX_OVERRIDES, PINNED_ISSUER_KEYS, TrustLog, fingerprint, pinned_keys


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
