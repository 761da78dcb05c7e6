"""Checks shared by the models, the context and the stores: tenant ids and limit overrides."""

from __future__ import annotations

import functools
import unicodedata

MAX_TENANT_ID_LENGTH = 256
# control (newline, tab, DEL, ESC...), format (bidi overrides, zero-width), lone surrogates, line/paragraph separators
FORBIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


@functools.lru_cache(maxsize=4096)
def _problem(tenant_id: str) -> str | None:
    if not tenant_id.strip():
        return "is empty or only whitespace; give a real id"
    if len(tenant_id) > MAX_TENANT_ID_LENGTH:
        return f"is {len(tenant_id)} characters long; the maximum is {MAX_TENANT_ID_LENGTH}"
    bad = next((ch for ch in tenant_id if unicodedata.category(ch) in FORBIDDEN_CATEGORIES), None)
    return None if bad is None else f"contains the control or format character {bad!r}; remove it"


def validate_tenant_id(tenant_id: object, field: str = "tenant_id") -> str:
    """Return ``tenant_id`` if it is a usable id, else raise ValueError naming it.

    The one tenant-id rule, used by every entry point (``TenantConfig``, ``TenantContext``, ``AuditTrail``, the
    stores). Usable: a string, not empty or only whitespace, at most 256 characters, without control or format
    characters (newline, tab, DEL, ESC, bidi overrides...), line separators or lone surrogates.
    """
    if not isinstance(tenant_id, str):
        raise ValueError(
            f"field {field!r}: tenant id must be a string, not {type(tenant_id).__name__} {str(tenant_id)[:60]!r}"
        )
    problem = _problem(str(tenant_id))  # a str subclass is checked (and cached) as the plain string it holds
    if problem is not None:
        raise ValueError(f"field {field!r}: tenant id {tenant_id[:60]!r} {problem}")
    return tenant_id


def validate_override(value: object, field: str) -> int | None:
    """A limit override: None (use the tier's value) or an int >= 0 (0 is a valid override)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"field {field!r}: limit override must be an int >= 0 or None, not {value!r}")
    if value < 0:
        raise ValueError(f"field {field!r}: limit override {value!r} is negative; use 0 or more (None = tier default)")
    return value
