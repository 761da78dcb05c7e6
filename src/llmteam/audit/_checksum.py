"""Record checksums: the canonical JSON of every field, digested with SHA-256 or HMAC-SHA256.

The canonical form is fixed by the contract: ``json.dumps(to_dict() minus "checksum", sort_keys=True,
separators=(",", ":"), ensure_ascii=False, default=str)``, computed in one place
(:func:`llmteam.audit.verifier.canonical_record_json`) for writing, verifying and the standalone verifier alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from llmteam._text import is_unicode
from llmteam.audit.verifier import canonical_json as nested_json  # the SQL stores' text of a nested field
from llmteam.config import audit_hmac_key

__all__ = [
    "Hasher", "digest", "get_checksum_key", "hasher", "nested_json", "sensitive_digest", "set_checksum_key", "utf8",
]

_UNSET: Any = object()
_configured_key: Any = _UNSET


def set_checksum_key(key: bytes | None) -> None:
    """Use HMAC-SHA256 with ``key`` for every checksum from now on (``None``: back to the environment/SHA-256)."""
    global _configured_key
    if key is not None and (not isinstance(key, bytes) or not key):
        raise ValueError(f"audit checksum key must be non-empty bytes, got {type(key).__name__}")
    _configured_key = _UNSET if key is None else key


def get_checksum_key() -> bytes | None:
    """The HMAC key in force: set_checksum_key's, else env LLMTEAM_AUDIT_HMAC_KEY (UTF-8), else None."""
    if _configured_key is not _UNSET:
        return _configured_key  # type: ignore[no-any-return]
    return audit_hmac_key()


class _Hash(Protocol):
    def hexdigest(self) -> str: ...


Hasher = Callable[[bytes], _Hash]
"""What :func:`hasher` returns: called with the UTF-8 canonical text, a hash object whose ``hexdigest()`` is the
checksum."""


def hasher(key: bytes | None) -> Hasher:
    """The checksum's hash for ``key``: HMAC-SHA256 under it, or plain SHA-256 without one.

    Chosen once for a batch of records (the trail seals each with it), so a record costs no Python call for it:
    ``hashlib.sha256`` itself without a key.
    """
    return partial(hmac.new, key, digestmod=hashlib.sha256) if key else hashlib.sha256


def utf8(canonical: str) -> bytes:
    """The UTF-8 bytes of a record's canonical text; a ValueError naming the field when a text cannot be UTF-8.

    Only a lone surrogate (what ``errors="surrogateescape"`` leaves of undecodable bytes) has no UTF-8 form: the
    error names the record's field that holds it and the character, not the codec's position in the canonical text.
    """
    try:
        return canonical.encode("utf-8")
    except UnicodeEncodeError as exc:
        fields = json.loads(canonical)  # the canonical text is JSON, and a str holds the surrogate as it is
        name = next((k for k, v in fields.items() if not is_unicode(nested_json(v))), "?")
        raise ValueError(
            f"audit field {name!r} holds a lone surrogate {canonical[exc.start]!r}, which is not text (undecoded "
            "bytes?): decode the bytes it came from properly, or replace it (text.encode('utf-8', 'replace')"
            ".decode()) before logging"
        ) from None


def digest(canonical: str, key: bytes | None) -> str:
    """64-char lowercase hex SHA-256, or HMAC-SHA256 when ``key`` is set, of the UTF-8 canonical text."""
    return hasher(key)(utf8(canonical)).hexdigest()


def sensitive_digest(tenant_id: str, text: str) -> str | None:
    """A keyed digest of a sensitive value (a SECRET agent's output) for the audit log, or None without a key.

    HMAC-SHA256 under a per-tenant key derived from the configured audit key (:func:`set_checksum_key` or
    ``LLMTEAM_AUDIT_HMAC_KEY``): a reader of the log cannot confirm a guessed value, unlike a plain SHA-256, and
    equal values of two tenants get unrelated digests. With no key configured, no digest is recorded at all.
    """
    key = get_checksum_key()
    if not key:
        return None
    tenant_key = hmac.new(key, b"llmteam-audit-sensitive-digest/v1\x00" + tenant_id.encode("utf-8"), "sha256")
    return hmac.new(tenant_key.digest(), text.encode("utf-8"), hashlib.sha256).hexdigest()
