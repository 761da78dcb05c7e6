"""Text from outside made valid Unicode: the one place that decides what a lone UTF-16 surrogate becomes."""

from __future__ import annotations

__all__ = ["is_unicode", "unicode_text"]


def is_unicode(text: str) -> bool:
    """True when ``text`` has a UTF-8 form: it holds no lone UTF-16 surrogate (the only str that has none)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unicode_text(text: str) -> str:
    """``text`` as valid Unicode: what arrives from outside (a model's answer) made safe to encode, hash and store.

    JSON's ``\\uXXXX`` escapes can carry UTF-16 surrogates that are not characters: a high and a low surrogate
    that arrived apart (a pair split across two streamed chunks) are joined into the character they encode, and a
    surrogate left alone is replaced by U+FFFD, the replacement character, as a lenient UTF-8 decoder does. Valid
    text is returned as it is (the same object).
    """
    if is_unicode(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
