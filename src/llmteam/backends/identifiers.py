"""SQL identifier validation: table names are never interpolated unless they match one strict pattern."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_IDENTIFIER_LENGTH = 63
IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def validate_identifier(name: str, what: str = "table name", *, suffixes: Iterable[str] = ()) -> str:
    """Return ``name`` unchanged if it is a safe SQL identifier, else raise ``ValueError`` naming it.

    ``suffixes`` are the endings of the names a store derives from it (indexes, side tables, triggers): each
    ``name + suffix`` must fit the 63-character limit too, since PostgreSQL would silently truncate it.
    """
    if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name):
        raise ValueError(
            f"invalid {what} {name!r}: use 1-63 characters of lower-case letters, digits and '_', "
            "not starting with a digit"
        )
    for suffix in suffixes:
        if len(name) + len(suffix) > MAX_IDENTIFIER_LENGTH:
            raise ValueError(
                f"{what} {name!r} is too long: the store also creates {name + suffix!r}, which must fit "
                f"{MAX_IDENTIFIER_LENGTH} characters; use at most {MAX_IDENTIFIER_LENGTH - len(suffix)} characters "
                f"with suffix {suffix!r}"
            )
    return name
