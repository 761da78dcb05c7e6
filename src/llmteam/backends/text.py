"""Text that SQL text columns can hold: no NUL character, valid Unicode (no lone surrogates)."""

from __future__ import annotations


def sql_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored in a SQLite/PostgreSQL text column, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character, which SQL text columns cannot hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid Unicode text ({exc.reason})"
    return None
