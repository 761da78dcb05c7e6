"""The licence *issuer*: Ed25519 key generation and key signing. Only ``llmteam license`` imports this module.

The verifying package ``llmteam.licensing`` never sees a private key; it only checks signatures made here.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from llmteam._files import create_exclusive

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
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


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
    """Write a new private key (PKCS#8 PEM, mode 0600) and its base64 public key into ``out_dir``.

    Neither file is ever written through a symlink, and the directory never holds half a pair: both files are
    written in full under fresh temporary names, then put in place together; if anything fails, what was there
    before (an old pair with ``force``, or nothing) is put back.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if os.path.lexists(path) and not force:  # a dangling symlink counts: it would be written through
            raise IssuerError(f"{path} already exists; pass --force to replace it (old licences stop verifying)")
        if path.is_dir() and not path.is_symlink():
            raise IssuerError(f"{path} is a directory; remove it or choose another --out")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_b64 = _public_b64(key)
    _install_together([(private_path, pem, 0o600), (public_path, public_b64 + "\n", 0o644)], replace=force)
    return KeyPair(private_path, public_path, public_b64)


def _install_together(files: list[tuple[Path, str, int]], *, replace: bool) -> None:
    """Give each ``(path, text, mode)`` its content, all or none.

    Each file is first created complete under a fresh name beside its target (``create_exclusive``: O_EXCL |
    O_NOFOLLOW, so never through a symlink); only then are they put in place. With ``replace``, what is at a target
    (a file, or a planted symlink, moved as itself) is first moved aside and restored if a later step fails.
    """
    staged: list[tuple[Path, Path]] = []
    aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for target, text, mode in files:
            tmp = _fresh_name(target)
            create_exclusive(tmp, text, mode=mode)
            staged.append((tmp, target))
        for tmp, target in staged:
            if replace and os.path.lexists(target):
                backup = _fresh_name(target)
                os.rename(target, backup)
                aside.append((backup, target))
            _place(tmp, target)
            placed.append(target)
    except BaseException:
        for target in placed:
            with contextlib.suppress(OSError):
                os.unlink(target)
        for backup, target in aside:
            with contextlib.suppress(OSError):
                os.rename(backup, target)
        raise
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    for backup, _ in aside:
        with contextlib.suppress(OSError):
            os.unlink(backup)


def _fresh_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")


def _place(tmp: Path, target: Path) -> None:
    """Give the complete file ``tmp`` the name ``target`` without replacing anything there.

    A hard link fails if any file or symlink has the name and never follows one. Where the file system has no
    hard links (FAT on a USB stick), a rename after a fresh existence check does the same but for a short race.
    """
    appeared = IssuerError(f"{target} appeared while the key pair was written; nothing was changed")
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise appeared from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(target):
            raise appeared from None
        os.replace(tmp, target)


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
