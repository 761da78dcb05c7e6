"""sql_text_problem: the one rule for text a SQL text column can hold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.backends.text import sql_text_problem


def test_plain_and_unicode_text_is_fine() -> None:
    assert sql_text_problem("") is None
    assert sql_text_problem("tenant:ä漢字🙂") is None


def test_nul_and_lone_surrogates_are_named() -> None:
    assert "NUL" in (sql_text_problem("a\x00b") or "")
    assert "Unicode" in (sql_text_problem("a\ud800") or "")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_accepted_text_round_trips_through_utf8_without_nul(text: str) -> None:
    if sql_text_problem(text) is None:
        assert "\x00" not in text
        assert text.encode("utf-8").decode("utf-8") == text
