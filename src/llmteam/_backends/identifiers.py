"""SQL identifier validation: table names are never interpolated unless they match one strict pattern."""

from __future__ import annotations

import re

IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def validate_identifier(name: str, what: str = "table name") -> str:
    """Return ``name`` unchanged if it is a safe SQL identifier, else raise ``ValueError`` naming it."""
    if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name):
        raise ValueError(
            f"invalid {what} {name!r}: use 1-63 characters of lower-case letters, digits and '_', "
            "not starting with a digit"
        )
    return name
