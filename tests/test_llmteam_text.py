"""is_unicode and unicode_text: text from outside (a model's answer) made valid Unicode, lone surrogates replaced."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam._text import is_unicode, unicode_text


def test_split_pairs_are_joined_and_lone_surrogates_replaced() -> None:
    assert unicode_text("\ud83d" + "\ude00") == "\U0001f600"  # a pair that arrived as two code points
    assert unicode_text("a\ud800b") == "a\ufffdb"
    assert unicode_text("\ude00\ud83d") == "\ufffd\ufffd"  # low before high: not a pair
    assert unicode_text("tenant:ä漢字🙂\udc80") == "tenant:ä漢字🙂\ufffd"
    valid = "plain ä漢字🙂"
    assert unicode_text(valid) is valid


_ANY_CODE_POINT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()))


@settings(max_examples=300, deadline=None)
@given(_ANY_CODE_POINT)
def test_the_result_always_encodes_and_valid_text_is_kept(text: str) -> None:
    cleaned = unicode_text(text)
    cleaned.encode("utf-8")  # never raises
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        assert cleaned != text and len(cleaned) <= len(text)  # a pair joined (shorter) or a half replaced
    else:
        assert cleaned == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_valid_text_split_into_utf16_code_units_is_rejoined(text: str) -> None:
    units = text.encode("utf-16-le")
    split = "".join(chr(int.from_bytes(units[i:i + 2], "little")) for i in range(0, len(units), 2))
    assert unicode_text(split) == text


@settings(max_examples=300, deadline=None)
@given(_ANY_CODE_POINT)
def test_is_unicode_is_exactly_having_a_utf8_form(text: str) -> None:
    """The one check behind the SQL stores' text check, the audit checksum's error and unicode_text."""
    try:
        text.encode("utf-8")
        encodes = True
    except UnicodeEncodeError:
        encodes = False
    assert is_unicode(text) is encodes
    assert (unicode_text(text) is text) is encodes
