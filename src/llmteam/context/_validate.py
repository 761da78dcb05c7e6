"""Argument checks shared by the context module: each error names the bad value and what to pass instead."""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum
from typing import Any, TypeVar

__all__ = ["plain_str", "require_enum", "require_id", "require_number", "require_optional_str", "require_str", "to_set"]

E = TypeVar("E", bound=Enum)


def require_enum(value: Any, enum_type: type[E], what: str) -> E:
    """Return ``value`` if it is a member of ``enum_type``; otherwise raise TypeError naming it."""
    if isinstance(value, enum_type):
        return value
    members = ", ".join(f"{enum_type.__name__}.{m.name}" for m in enum_type)
    raise TypeError(f"{what} must be a {enum_type.__name__} ({members}), got {value!r}")


def require_str(value: Any, what: str) -> str:
    """Return ``value`` if it is a str; otherwise raise TypeError naming it."""
    if isinstance(value, str):
        return value
    raise TypeError(f"{what} must be a str, got {type(value).__name__} {value!r}")


def plain_str(value: Any, what: str) -> str:
    """Return the plain ``str`` value of a str (or str subclass such as a str Enum); else raise TypeError."""
    return str.__str__(require_str(value, what))


def require_id(value: Any, what: str) -> str:
    """Return ``value`` if it is a non-empty str; otherwise raise TypeError/ValueError naming it."""
    if require_str(value, what) == "":
        raise ValueError(f"{what} must be a non-empty string, got ''")
    return value  # type: ignore[no-any-return]


def require_optional_str(value: Any, what: str) -> str | None:
    """Return ``value`` if it is None or a str; otherwise raise TypeError naming it."""
    return None if value is None else require_str(value, what)


def require_number(value: Any, what: str) -> float:
    """Return ``value`` as a float if it is a real, non-NaN number (bool excluded); else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number (int or float), got {type(value).__name__} {value!r}")
    result = float(value)
    if math.isnan(result):
        raise ValueError(f"{what} must be a number, got NaN")
    return result


def to_set(value: Any, what: str) -> set[Any]:
    """Return ``value`` itself if it is a set, a new set for other non-string iterables; else raise TypeError."""
    if isinstance(value, set):
        return value
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a set of ids or names, got {type(value).__name__} {value!r}")
    return set(value)
