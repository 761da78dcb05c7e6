from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.licensing import LicenseExpiredError, LicenseManager, LicenseTier, LicenseValidationError, _keys
from llmteam.licensing._keys import decode_public_key, parse_key

UNSIGNED = "LLMT-PRO-ACME-20991231"
HEALTH = [HealthCheck.function_scoped_fixture]


def test_parse_signed_key_normalises(issuer) -> None:
    key = issuer.key("ENT", "BIG_CO", date(2099, 1, 2))
    parsed = parse_key("  " + key.lower() + "\n")
    assert parsed.key == key and parsed.tier is LicenseTier.ENTERPRISE and parsed.owner == "BIG_CO"
    assert parsed.expires == date(2099, 1, 2) and parsed.message == b"LLMT-ENT-BIG_CO-20990102"
    assert parsed.signature is not None and len(parsed.signature) == 64
    assert len(key.split("-")[4]) == 103


def test_parse_unsigned_key() -> None:
    parsed = parse_key(UNSIGNED)
    assert parsed.signature is None and parsed.tier is LicenseTier.PROFESSIONAL


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("LLMT-PRO-ACME", "3 dash-separated parts"),
        ("LLMT-PRO-ACME-20991231-AAA-BBB", "6 dash-separated parts"),
        ("LLMT--ACME-20991231", "tier part is empty"),
        ("LLMT-PRO--20991231", "owner part is empty"),
        ("LLMT-PRO-ACME-20991231-", "signature part is empty"),
        ("XXXX-PRO-ACME-20991231", "'XXXX'"),
        ("LLMT-GOLD-ACME-20991231", "unknown licence tier 'GOLD'"),
        ("LLMT-PRO-AC ME-20991231", "invalid owner 'AC ME'"),
        ("LLMT-PRO-" + "A" * 65 + "-20991231", "invalid owner"),
        ("LLMT-PRO-ACME-2099123", "invalid expiry date '2099123'"),
        ("LLMT-PRO-ACME-20990231", "invalid expiry date '20990231'"),
        ("LLMT-PRO-ACME-20991301", "month must be in 1..12"),
        ("LLMT-PRO-ACME-20991231-ABC", "malformed signature part (3 characters)"),
        ("LLMT-PRO-ACME-20991231-" + "1" * 103, "malformed signature part"),
        ("LLMT-PRO-ACME-20991231-" + "A" * 600, "at most 186"),
    ],
)
def test_malformed_keys_name_the_problem(key: str, fragment: str) -> None:
    with pytest.raises(LicenseValidationError, match=None) as info:
        parse_key(key)
    assert fragment in str(info.value)


def test_non_string_key() -> None:
    with pytest.raises(LicenseValidationError, match="must be a str, not int"):
        parse_key(42)


def test_non_canonical_signature_is_refused(issuer) -> None:
    key = issuer.key()
    last = key[-1]
    # the final base32 character carries 2 signature bits and 3 padding bits: flipping padding bits keeps the bytes
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    twin = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(LicenseValidationError, match="canonical"):
        parse_key(key[:-1] + twin)


def test_decode_public_key_forms(issuer) -> None:
    raw = issuer.public_raw
    assert decode_public_key(raw, "x") == raw
    assert decode_public_key(issuer.public_b64, "x") == raw
    assert decode_public_key(issuer.public_b64.rstrip("="), "x") == raw
    assert decode_public_key(base64.urlsafe_b64encode(raw).decode(), "x") == raw
    assert decode_public_key(issuer.public_b64.encode(), "x") == raw
    with pytest.raises(ValueError, match="32 bytes, this decodes to 3"):
        decode_public_key("YWJj", "public_key")
    with pytest.raises(ValueError, match="not valid base64"):
        decode_public_key("!!!!", "public_key")
    with pytest.raises(ValueError, match="got 3 bytes"):
        decode_public_key(b"\xff\xfe\xfd", "public_key")


def test_configure_rejects_bad_public_key() -> None:
    with pytest.raises(ValueError, match="public_key"):
        LicenseManager.configure(public_key="abc")


def test_signed_key_from_an_unpinned_issuer_is_refused(issuer_keys) -> None:
    with pytest.raises(LicenseValidationError, match="pinned llmteam issuer keys"):
        LicenseManager().activate(issuer_keys.key())


def test_public_key_from_env_is_ignored(issuer_keys, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_PUBLIC_KEY", issuer_keys.public_b64)
    with pytest.raises(LicenseValidationError, match="pinned"):
        LicenseManager().activate(issuer_keys.key())
    LicenseManager.configure(public_key=issuer_keys.public_b64)  # the explicit API is the one way to override
    assert LicenseManager().activate(issuer_keys.key()).verified is True


def test_key_from_another_issuer_is_refused(issuer) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from llmteam.cli._license_issuer import sign_key

    foreign = sign_key(Ed25519PrivateKey.generate(), "ENT", "ACME", date(2099, 12, 31))
    with pytest.raises(LicenseValidationError, match="invalid signature"):
        LicenseManager().activate(foreign)


def test_verification_is_cached_per_key(issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = _keys._ed25519_verify

    def counting(pub: bytes, sig: bytes, msg: bytes) -> bool:
        calls.append(msg)
        return real(pub, sig, msg)

    monkeypatch.setattr(_keys, "_ed25519_verify", counting)
    key = issuer.key(owner="CACHED")
    for _ in range(3):
        LicenseManager().activate(key)
    assert len(calls) == 1


def test_signature_checked_before_expiry(issuer) -> None:
    expired = issuer.key(expires=date.today() - timedelta(days=1))
    with pytest.raises(LicenseExpiredError, match=(date.today() - timedelta(days=1)).isoformat()):
        LicenseManager().activate(expired)
    forged = expired[:-5] + ("AAAAA" if not expired.endswith("AAAAA") else "BBBBB")
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(forged)


@settings(max_examples=200, deadline=None, suppress_health_check=HEALTH)
@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_licence_errors(issuer, text: str) -> None:
    try:
        LicenseManager().activate(text)
    except (LicenseValidationError, LicenseExpiredError):
        pass


_KEYISH = st.lists(
    st.one_of(
        st.sampled_from(["LLMT", "PRO", "ENT", "COM", "ACME", "20991231", "20200101", "-", "-", "A" * 103]),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567_-0189 ", max_size=20),
    ),
    max_size=8,
).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=HEALTH)
@given(_KEYISH)
def test_keyish_text_only_raises_licence_errors(issuer, text: str) -> None:
    try:
        lic = LicenseManager().activate(text)
    except (LicenseValidationError, LicenseExpiredError):
        return
    raise AssertionError(f"a random key activated: {lic}")


_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


@settings(max_examples=200, deadline=None, suppress_health_check=HEALTH)
@given(data=st.data())
def test_any_mutation_of_a_signed_key_fails(issuer, data: st.DataObject) -> None:
    key = issuer.key("PRO", "ACME", date(2099, 12, 31))
    kind = data.draw(st.sampled_from(["replace", "delete", "insert", "swap_tier"]))
    pos = data.draw(st.integers(0, len(key) - 1))
    char = data.draw(st.sampled_from(_KEY_CHARS))
    if kind == "replace":
        mutated = key[:pos] + char + key[pos + 1 :]
    elif kind == "delete":
        mutated = key[:pos] + key[pos + 1 :]
    elif kind == "insert":
        mutated = key[:pos] + char + key[pos:]
    else:
        mutated = key.replace("-PRO-", "-ENT-", 1)
    if mutated == key:
        return
    with pytest.raises(LicenseValidationError):
        LicenseManager().activate(mutated)
