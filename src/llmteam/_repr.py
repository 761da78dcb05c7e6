"""Bounded ``repr`` for error messages: quoting a hostile value never costs more than a few dozen characters."""

from __future__ import annotations

import reprlib

__all__ = ["bounded_repr"]

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 80
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 2, 4, 4, 4, 4


def bounded_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, built without ever formatting the whole value."""
    try:
        text = _REPR.repr(value)
    except ValueError:  # an int too long to convert to decimal text (sys.get_int_max_str_digits)
        text = f"<int of about {int(abs(value).bit_length() * 0.30103) if isinstance(value, int) else '?'} digits>"
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."
