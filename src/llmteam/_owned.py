"""Values handed across an isolation boundary without aliasing: immutable ones as they are, others deep-copied.

Ground floor (imports no other llmteam module): the memory stores keep what they are given this way, and a
context hands out its data this way, so a caller never holds an object someone else stores.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["IMMUTABLE", "own"]

IMMUTABLE = frozenset({str, int, float, bool, bytes, complex, type(None)})
"""Types whose values are stored and handed out as they are; every other value is deep-copied in and out."""


def own(value: Any) -> Any:
    """``value`` itself when immutable, else a deep copy: a stored value is never an object a caller holds."""
    return value if type(value) in IMMUTABLE else copy.deepcopy(value)
