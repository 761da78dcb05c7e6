"""Text that SQL text columns can hold: no NUL character, valid Unicode (no lone surrogates)."""

from __future__ import annotations

from llmteam._text import is_unicode


def sql_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored in a SQLite/PostgreSQL text column, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character, which SQL text columns cannot hold"
    if not is_unicode(text):
        return "is not valid Unicode text (it holds a lone surrogate, which has no UTF-8 form)"
    return None
