"""The licence *issuer*: Ed25519 key generation and key signing. Only ``llmteam license`` imports this module.

The verifying package ``llmteam.licensing`` never sees a private key; it only checks signatures made here.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PRIVATE_KEY_FILE = "license_private.pem"
PUBLIC_KEY_FILE = "license_public.key"
TIER_CODES = {
    "COM": "COM", "COMMUNITY": "COM",
    "PRO": "PRO", "PROFESSIONAL": "PRO",
    "ENT": "ENT", "ENTERPRISE": "ENT",
}
_OWNER_RE = re.compile(r"[A-Z0-9_]{1,64}")


class IssuerError(Exception):
    """Bad issuer input (tier, owner, date or key file)."""


@dataclass(frozen=True)
class KeyPair:
    """Paths of a freshly written key pair and the base64 public key."""

    private_key_path: Path
    public_key_path: Path
    public_key_b64: str


def _public_b64(private_key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def generate_keypair(out_dir: Path, *, force: bool = False) -> KeyPair:
    """Write a new private key (PKCS#8 PEM, mode 0600) and its base64 public key into ``out_dir``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise IssuerError(f"{path} already exists; pass --force to replace it (old licences stop verifying)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if force:
        private_path.unlink(missing_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(private_path, 0o600)
    public_b64 = _public_b64(key)
    public_path.write_text(public_b64 + "\n", encoding="ascii")
    return KeyPair(private_path, public_path, public_b64)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PEM Ed25519 private key written by ``generate_keypair``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IssuerError(f"cannot read private key {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IssuerError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IssuerError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def normalise_tier(tier: str) -> str:
    """Map COM/PRO/ENT or the tier names (any case) to the key's tier code."""
    code = TIER_CODES.get(tier.strip().upper())
    if code is None:
        raise IssuerError(f"unknown tier {tier!r}; use COM, PRO or ENT")
    return code


def normalise_owner(owner: str) -> str:
    """Upper-case the owner and check it is 1-64 characters of A-Z, 0-9, _."""
    norm = owner.strip().upper()
    if not _OWNER_RE.fullmatch(norm):
        raise IssuerError(f"invalid owner {owner!r}: use 1-64 characters of A-Z, 0-9 and _ (no dashes or spaces)")
    return norm


def sign_key(private_key: Ed25519PrivateKey, tier: str, owner: str, expires: date) -> str:
    """Return the signed key ``LLMT-<TIER>-<OWNER>-<YYYYMMDD>-<SIG>``."""
    message = f"LLMT-{normalise_tier(tier)}-{normalise_owner(owner)}-{expires.strftime('%Y%m%d')}"
    signature = base64.b32encode(private_key.sign(message.encode("utf-8"))).decode("ascii").rstrip("=")
    return f"{message}-{signature}"
