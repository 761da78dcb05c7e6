"""Licence-key grammar and Ed25519 verification (public key only; ``cryptography`` is imported lazily).

Key: ``LLMT-<TIER>-<OWNER>-<YYYYMMDD>[-<SIG>]`` where SIG is the unpadded upper-case base32 Ed25519 signature of
the UTF-8 bytes of ``LLMT-<TIER>-<OWNER>-<YYYYMMDD>``. This module only ever sees the public key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date

from llmteam.licensing._errors import LicenseValidationError
from llmteam.licensing._tiers import LicenseTier
from llmteam.licensing._trust import TrustLog, fingerprint, pinned_keys

logger = logging.getLogger(__name__)

PREFIX = "LLMT"
TIER_CODES: dict[str, LicenseTier] = {
    "COM": LicenseTier.COMMUNITY,
    "PRO": LicenseTier.PROFESSIONAL,
    "ENT": LicenseTier.ENTERPRISE,
}
SIGNATURE_LENGTH = 103  # 64 bytes in unpadded base32
MAX_KEY_LENGTH = 512
_OWNER_RE = re.compile(r"[A-Z0-9_]{1,64}")
_DATE_RE = re.compile(r"[0-9]{8}")
_SIG_RE = re.compile(r"[A-Z2-7]{103}")
_PART_NAMES = ("prefix", "tier", "owner", "expiry date", "signature")
_MAX_VERIFIED_CACHE = 1024


@dataclass(frozen=True)
class ParsedKey:
    """A syntactically valid key: its parts, the signed message and the raw signature (None if unsigned)."""

    key: str
    tier: LicenseTier
    owner: str
    expires: date
    message: bytes
    signature: bytes | None


def _show(part: str) -> str:
    return repr(part if len(part) <= 40 else part[:40] + "...")


def parse_key(key: object) -> ParsedKey:
    """Normalise (strip, upper-case) and parse a key; raise LicenseValidationError naming the bad part."""
    if not isinstance(key, str):
        raise LicenseValidationError(f"a licence key must be a str, not {type(key).__name__}")
    norm = key.strip().upper()
    if not norm:
        raise LicenseValidationError("the licence key is empty; expected LLMT-<TIER>-<OWNER>-<YYYYMMDD>-<SIG>")
    if len(norm) > MAX_KEY_LENGTH:
        raise LicenseValidationError(f"the licence key is {len(norm)} characters long; a valid key has at most 186")
    parts = norm.split("-")
    if len(parts) not in (4, 5):
        raise LicenseValidationError(
            f"the licence key has {len(parts)} dash-separated parts; expected LLMT-<TIER>-<OWNER>-<YYYYMMDD>-<SIG>"
        )
    for name, part in zip(_PART_NAMES, parts, strict=False):
        if not part:
            raise LicenseValidationError(f"the licence key's {name} part is empty")
    prefix, tier_code, owner, day = parts[:4]
    if prefix != PREFIX:
        raise LicenseValidationError(f"the licence key must start with 'LLMT-', not {_show(prefix)}")
    tier = TIER_CODES.get(tier_code)
    if tier is None:
        raise LicenseValidationError(f"unknown licence tier {_show(tier_code)}; expected one of COM, PRO, ENT")
    if not _OWNER_RE.fullmatch(owner):
        raise LicenseValidationError(f"invalid owner {_show(owner)}: expected 1-64 characters of A-Z, 0-9 and _")
    if not _DATE_RE.fullmatch(day):
        raise LicenseValidationError(f"invalid expiry date {_show(day)}: expected 8 digits YYYYMMDD")
    try:
        expires = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError as exc:
        raise LicenseValidationError(f"invalid expiry date {_show(day)}: {exc}") from None
    signature: bytes | None = None
    if len(parts) == 5:
        sig = parts[4]
        if not _SIG_RE.fullmatch(sig):
            raise LicenseValidationError(
                f"malformed signature part ({len(sig)} characters): expected {SIGNATURE_LENGTH} characters of "
                "unpadded base32 (A-Z, 2-7)"
            )
        try:
            signature = base64.b32decode(sig + "=")
        except (binascii.Error, ValueError):
            raise LicenseValidationError("malformed signature part: not valid base32") from None
        if len(signature) != 64 or base64.b32encode(signature).decode("ascii").rstrip("=") != sig:
            # the last character carries 3 unused bits; only the canonical encoding is accepted
            raise LicenseValidationError("malformed signature part: not the canonical base32 of a 64-byte signature")
    message = "-".join(parts[:4]).encode()
    return ParsedKey(norm, tier, owner, expires, message, signature)


def decode_public_key(value: bytes | str, source: str) -> bytes:
    """Return the 32 raw bytes of an Ed25519 public key given raw or as base64 text; ValueError otherwise."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) == 32:
            return raw
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"{source}: expected 32 raw bytes or base64 text, got {len(raw)} bytes") from None
    if not isinstance(value, str):
        raise ValueError(f"{source}: expected bytes or base64 str, got {type(value).__name__}")
    text = value.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{source}: not valid base64 ({len(text)} characters)") from None
    if len(raw) != 32:
        raise ValueError(f"{source}: an Ed25519 public key is 32 bytes, this decodes to {len(raw)}")
    return raw


class VerifierConfig:
    """Process-wide verifier settings: the trust anchor (pinned keys or an explicit override), legacy mode, cache.

    Only ``LicenseManager.configure`` changes them; every widening change is recorded in ``trust_log``. Each change
    of the anchor bumps ``epoch``, so a manager knows to re-verify a licence verified under an earlier anchor.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._public_key: bytes | None = None
        self._allow_unsigned = False
        self.epoch = 0
        self.trust_log = TrustLog()
        self._verified: dict[tuple[bytes, bytes, bytes], None] = {}

    @property
    def public_key(self) -> bytes | None:
        """The override issuer key, or None for the pinned keys."""
        return self._public_key

    @public_key.setter
    def public_key(self, value: bytes | None) -> None:
        self._public_key = value
        self.epoch += 1

    @property
    def allow_unsigned(self) -> bool:
        """Whether unsigned legacy keys are accepted (as COMMUNITY keys)."""
        return self._allow_unsigned

    @allow_unsigned.setter
    def allow_unsigned(self, value: bool) -> None:
        self._allow_unsigned = value
        self.epoch += 1

    def trusted_keys(self) -> tuple[bytes, ...]:
        """The override key if one was configured, else the keys pinned in the distribution."""
        self.trust_log.warn_ignored_env()
        return (self.public_key,) if self.public_key is not None else pinned_keys()

    def unsigned_allowed(self) -> bool:
        """True only in the explicit legacy mode (``configure(allow_unsigned=True)``)."""
        self.trust_log.warn_ignored_env()
        return self.allow_unsigned

    def trust(self) -> dict[str, object]:
        """What licences are checked against right now, for audit records and status output."""
        key = self.public_key
        return {
            "issuer": "pinned" if key is None else "override",
            "keys": [fingerprint(k) for k in ((key,) if key is not None else pinned_keys())],
            "allow_unsigned": self.allow_unsigned,
            "overrides": len(self.trust_log.records()),
        }

    def verify(self, parsed: ParsedKey) -> bool:
        """Check the signature of a signed key against the trusted keys; True, or LicenseValidationError.

        Each (public key, key) pair is verified once per process; later checks hit a bounded cache.
        """
        if parsed.signature is None:
            raise LicenseValidationError("internal: verify() called for an unsigned key")
        for public_key in self.trusted_keys():
            cache_key = (public_key, parsed.message, parsed.signature)
            with self._lock:
                if cache_key in self._verified:
                    return True
            if _ed25519_verify(public_key, parsed.signature, parsed.message):
                with self._lock:
                    if len(self._verified) >= _MAX_VERIFIED_CACHE:
                        self._verified.pop(next(iter(self._verified)))
                    self._verified[cache_key] = None
                return True
        anchor = "the pinned llmteam issuer keys" if self.public_key is None else "the configured override key"
        raise LicenseValidationError(
            f"the licence key for owner {parsed.owner!r} has an invalid signature: it was not issued for {anchor} "
            "(forged, altered or issued by another issuer)"
        )


def _ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:  # pragma: no cover - cryptography is a core dependency
        raise LicenseValidationError(
            "cannot verify licence signatures: the 'cryptography' package is not installed (pip install cryptography)"
        ) from None
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    except ValueError as exc:
        raise LicenseValidationError(f"the configured public key is not a valid Ed25519 key: {exc}") from None
    return True


VERIFIER = VerifierConfig()
