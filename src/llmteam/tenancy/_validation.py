"""Checks shared by the models, the context and the stores: tenant ids and limit overrides."""

from __future__ import annotations

import unicodedata

MAX_TENANT_ID_LENGTH = 256


def validate_tenant_id(tenant_id: object, field: str = "tenant_id") -> str:
    """Return ``tenant_id`` if it is a usable id, else raise ValueError naming it.

    Usable: a string, not empty or only whitespace, at most 256 characters, without control
    characters or lone surrogates (which no durable store can hold).
    """
    if not isinstance(tenant_id, str):
        raise ValueError(f"field {field!r}: tenant id must be a string, not {type(tenant_id).__name__} {tenant_id!r}")
    if not tenant_id.strip():
        raise ValueError(f"field {field!r}: tenant id {tenant_id!r} is empty or only whitespace; give a real id")
    if len(tenant_id) > MAX_TENANT_ID_LENGTH:
        raise ValueError(
            f"field {field!r}: tenant id {tenant_id[:40]!r}... is {len(tenant_id)} characters long; "
            f"the maximum is {MAX_TENANT_ID_LENGTH}"
        )
    for ch in tenant_id:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(
                f"field {field!r}: tenant id {tenant_id!r} contains the control character {ch!r}; remove it"
            )
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
