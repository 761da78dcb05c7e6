"""Attacks on the licence trust anchor (issue 11, item 3): whoever sets the environment must not mint a licence.

The issuer keys are pinned in the distribution; an override is an explicit API call (or CLI argument), logged as a
warning and written into every run's audit record; an unsigned key never grants more than COMMUNITY.
"""

from __future__ import annotations

import base64
import logging
from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.cli._license_issuer import sign_key
from llmteam.licensing import LicenseManager, LicenseTier, LicenseValidationError
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team

# A COMMUNITY key signed with the project's issuer private key (kept outside the repository); the pinned public
# key alone must verify it. COMMUNITY grants nothing beyond the default, so publishing it gives nothing away.
PINNED_TEST_KEY = (
    "LLMT-COM-LLMTEAM_PINNED_KEY_TEST-20991231-VCM7NKFZ3REYDSM622BBRMOK2Z7ZRNAQ7S43W5DMI7N4QQEEJVKYMQMKAUD4O47HXRIBM"
    "W7ENXWYC55SZV45SRCEQCUGLIMYPU6QQCY"
)


def attacker_pair() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, base64.b64encode(raw).decode()


def test_environment_public_key_does_not_verify_a_self_signed_enterprise_key(monkeypatch: pytest.MonkeyPatch,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    private, public_b64 = attacker_pair()
    forged = sign_key(private, "ENT", "MALLORY", date(2099, 12, 31))
    monkeypatch.setenv("LLMTEAM_LICENSE_PUBLIC_KEY", public_b64)
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", forged)
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        manager = LicenseManager()
    assert manager.tier is LicenseTier.COMMUNITY and manager.license is None
    assert not manager.has_tier(LicenseTier.PROFESSIONAL)
    assert "ignoring LLMTEAM_LICENSE_PUBLIC_KEY" in caplog.text
    with pytest.raises(LicenseValidationError, match="pinned llmteam issuer keys"):
        LicenseManager().activate(forged)


def test_environment_legacy_mode_does_not_accept_an_unsigned_enterprise_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_ALLOW_UNSIGNED", "1")
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", "LLMT-ENT-MALLORY-20991231")
    manager = LicenseManager()
    assert manager.tier is LicenseTier.COMMUNITY and manager.license is None
    with pytest.raises(LicenseValidationError, match="no signature"):
        LicenseManager().activate("LLMT-ENT-MALLORY-20991231")


def test_both_variables_together_still_give_community(monkeypatch: pytest.MonkeyPatch) -> None:
    # the reviewer's exact move: two variables used to yield tier=enterprise verified=True
    private, public_b64 = attacker_pair()
    monkeypatch.setenv("LLMTEAM_LICENSE_PUBLIC_KEY", public_b64)
    monkeypatch.setenv("LLMTEAM_LICENSE_ALLOW_UNSIGNED", "1")
    for key in (sign_key(private, "ENT", "MALLORY", date(2099, 12, 31)), "LLMT-ENT-MALLORY-20991231"):
        monkeypatch.setenv("LLMTEAM_LICENSE_KEY", key)
        LicenseManager.reset()
        manager = LicenseManager.instance()
        assert manager.get_info()["tier"] == "community" and manager.license is None


def test_explicit_legacy_mode_caps_an_unsigned_key_at_community() -> None:
    LicenseManager.configure(allow_unsigned=True)
    lic = LicenseManager().activate("LLMT-ENT-MALLORY-20991231")
    assert lic.verified is False and lic.tier is LicenseTier.COMMUNITY
    manager = LicenseManager()
    manager.activate("LLMT-PRO-MALLORY-20991231")
    assert manager.tier is LicenseTier.COMMUNITY and not manager.has_feature("process_mining")


def test_pinned_issuer_key_verifies_without_any_configuration() -> None:
    lic = LicenseManager().activate(PINNED_TEST_KEY)
    assert lic.verified is True and lic.owner == "LLMTEAM_PINNED_KEY_TEST" and lic.tier is LicenseTier.COMMUNITY
    assert LicenseManager.trust()["issuer"] == "pinned"


def test_override_replaces_the_pinned_keys_and_is_logged_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    private, public_b64 = attacker_pair()
    with caplog.at_level(logging.WARNING, logger="llmteam.licensing"):
        LicenseManager.configure(public_key=public_b64, source="test harness")
    events = [r for r in caplog.records if getattr(r, "llmteam_event", None) == "licence.trust_override"]
    assert len(events) == 1 and events[0].levelno == logging.WARNING
    override = events[0].llmteam_override  # type: ignore[attr-defined]
    assert override["setting"] == "public_key" and override["source"] == "test harness"
    assert LicenseManager.trust_overrides()[-1] == override
    assert LicenseManager.trust()["issuer"] == "override"
    assert LicenseManager().activate(sign_key(private, "ENT", "OWN_ISSUER", date(2099, 1, 1))).verified is True
    with pytest.raises(LicenseValidationError, match="override key"):
        LicenseManager().activate(PINNED_TEST_KEY)  # the override replaces the pinned keys, it does not add to them
    LicenseManager.configure(public_key=None)
    assert LicenseManager.trust()["issuer"] == "pinned"
    assert LicenseManager().activate(PINNED_TEST_KEY).verified is True


async def test_every_run_audits_the_trust_anchor_in_force() -> None:
    team = Team("t", llm=ScriptedLLM({}, default="ok"), agents=[Agent("a", prompt="x {q}")])
    _private, public_b64 = attacker_pair()
    async with team.runtime("memory://", tenant="acme") as rt:
        await rt.run({"q": "1"})
        LicenseManager.configure(public_key=public_b64, allow_unsigned=True)
        await rt.run({"q": "2"})
        async with rt.tenants.context("acme"):
            records = await rt.audit.query(AuditQuery(event_types=[AuditEventType.PIPELINE_STARTED],
                                                      order_by="sequence_number", order_desc=False))
    trusts = [r.new_value["input_summary"]["licence_trust"] for r in records]
    assert [t["issuer"] for t in trusts] == ["pinned", "override"]
    assert trusts[1]["allow_unsigned"] is True and trusts[1]["overrides"] >= 2
    assert trusts[1]["keys"] != trusts[0]["keys"]
