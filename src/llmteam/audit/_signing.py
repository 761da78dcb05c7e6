"""The deployment's Ed25519 checkpoint key: where it lives, how it is created, and signing.

Resolution order: an explicit path; env ``LLMTEAM_AUDIT_SIGNING_KEY`` (a key file path); for a SQLite store,
``<database>.audit-signing.key`` next to the database; otherwise ``~/.llmteam/audit-signing.key``. A missing file
is created with mode 0600 (base64 of the 32-byte private seed; ``O_EXCL | O_NOFOLLOW``, so never through a planted
symlink) together with ``<key>.pub`` (base64 of the raw public key, replaced atomically: a symlink there is replaced,
not followed), which is all a verifier needs. ``cryptography`` is imported only here, at first use.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmteam._files import atomic_write_text, create_exclusive
from llmteam.audit._errors import AuditError
from llmteam.audit.verifier import CHECKPOINT_VERSION, VerificationError, checkpoint_message
from llmteam.config import settings
from llmteam.tenancy._validation import validate_tenant_id

__all__ = ["SIGNING_KEY_ENV", "SigningKey", "default_key_path"]

SIGNING_KEY_ENV = "LLMTEAM_AUDIT_SIGNING_KEY"


def default_key_path(db_path: str | None = None) -> Path:
    """Where the checkpoint key lives for a store whose SQLite file is ``db_path`` (None: not SQLite)."""
    configured = settings().audit_signing_key
    if configured is not None:
        return configured
    if db_path and db_path != ":memory:":
        return Path(f"{db_path}.audit-signing.key")
    return Path.home() / ".llmteam" / "audit-signing.key"


class SigningKey:
    """An Ed25519 key that signs audit checkpoints; :attr:`public_key` (raw 32 bytes) verifies them."""

    def __init__(self, private: Any) -> None:
        from cryptography.hazmat.primitives import serialization

        self._private = private
        self.public_key: bytes = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key (tests, or before writing it to a file)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> SigningKey:
        """Read the key at ``path``, creating it (mode 0600) and its ``.pub`` file when missing."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        p = Path(path)
        if not p.exists():
            key = cls.generate()
            seed = key._private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.is_symlink():
                raise AuditError(f"refusing to create the audit signing key through the symlink {str(p)!r}")
            try:
                create_exclusive(p, base64.b64encode(seed).decode() + "\n", mode=0o600)
            except FileExistsError:
                return cls.load_or_create(p)  # another process created it first: use theirs
            atomic_write_text(f"{p}.pub", key.public_key_b64 + "\n")
            return key
        try:
            seed = base64.b64decode(p.read_text().strip())
            return cls(Ed25519PrivateKey.from_private_bytes(seed))
        except (ValueError, OSError) as exc:
            raise AuditError(
                f"cannot read the audit signing key {str(p)!r}: {exc}; it must hold base64 of a 32-byte Ed25519 seed"
            ) from exc

    @property
    def public_key_b64(self) -> str:
        """The public key as base64 text (the format of the ``.pub`` file)."""
        return base64.b64encode(self.public_key).decode()

    def sign_checkpoint(self, tenant_id: str, tree_size: int, root_hash_hex: str) -> dict[str, Any]:
        """A signed checkpoint committing to the tenant's first ``tree_size`` records; every field is validated."""
        try:
            validate_tenant_id(tenant_id)
            issued_at = datetime.now(timezone.utc).isoformat()
            message = checkpoint_message(tenant_id, tree_size, root_hash_hex, issued_at)
        except (ValueError, VerificationError) as exc:
            raise AuditError(f"refusing to sign an audit checkpoint: {exc}") from exc
        sig = self._private.sign(message)
        return {
            "version": CHECKPOINT_VERSION, "tenant_id": tenant_id, "tree_size": tree_size, "root_hash": root_hash_hex,
            "issued_at": issued_at, "signature": base64.b64encode(sig).decode(), "public_key": self.public_key_b64,
        }
