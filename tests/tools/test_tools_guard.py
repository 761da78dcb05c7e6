"""Sealed-value screening, keyed digests and result text for tool calls."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmteam.context import SensitivityLevel
from llmteam.tools import SealedValue, ToolResultError, digest
from llmteam.tools._guard import bounded, canonical, result_text, sealed_leak

SECRET = SealedValue("vault", SensitivityLevel.SECRET, "sk-live-8812")


def test_a_sealed_value_is_found_raw_or_escaped() -> None:
    for raw in ['{"q": "key sk-live-8812"}', '{"q": "sk\\u002dlive-8812"}', '{"nested": [{"k": "sk-live-8812"}]}']:
        parsed = json.loads(raw)
        assert sealed_leak(raw, parsed, [SECRET], "mailer", SensitivityLevel.INTERNAL) is SECRET
    assert sealed_leak('{"q": "nothing"}', {"q": "nothing"}, [SECRET], "mailer", SensitivityLevel.INTERNAL) is None
    # unparsable arguments are still screened on their raw text
    assert sealed_leak("sk-live-8812 {", None, [SECRET], "mailer", SensitivityLevel.INTERNAL) is SECRET


def test_clearance_is_ownership_or_at_least_the_same_sensitivity() -> None:
    raw = '{"q": "sk-live-8812"}'
    assert sealed_leak(raw, json.loads(raw), [SECRET], "vault", SensitivityLevel.PUBLIC) is None
    assert sealed_leak(raw, json.loads(raw), [SECRET], "other", SensitivityLevel.SECRET) is None
    assert sealed_leak(raw, json.loads(raw), [SECRET], "other", SensitivityLevel.CONFIDENTIAL) is SECRET


@given(st.text(min_size=1, max_size=20), st.text(max_size=20), st.text(max_size=20))
def test_any_sealed_text_embedded_in_an_argument_is_caught(secret: str, before: str, after: str) -> None:
    sealed = SealedValue("owner", SensitivityLevel.TOP_SECRET, secret)
    args = {"text": before + secret + after}
    raw = json.dumps(args)
    assert sealed_leak(raw, args, [sealed], "agent", SensitivityLevel.SECRET) is sealed


LEVELS = list(SensitivityLevel)


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(LEVELS), st.sampled_from(["", "s1", "s2"])),
                max_size=6),
       st.sampled_from(["a", "b", "c"]), st.sampled_from(LEVELS), st.sampled_from(["", "s1", "s2", "s1 s2"]))
def test_sealed_leak_returns_the_first_value_the_agent_is_not_cleared_for(
    values: list[tuple[str, SensitivityLevel, str]], agent: str, level: SensitivityLevel, text: str
) -> None:
    # the screening (one clearance lookup per call) agrees with SealedValue.cleared, value by value
    sealed = [SealedValue(owner, lvl, secret) for owner, lvl, secret in values]
    raw = json.dumps({"q": text})
    expected = next((v for v in sealed if v.text and not v.cleared(agent, level) and v.text in raw), None)
    assert sealed_leak(raw, {"q": text}, sealed, agent, level) is expected


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()))
def test_a_scalar_result_is_the_same_json_as_through_pydantic(value: object) -> None:
    from pydantic_core import to_jsonable_python

    assert result_text("t", value) == json.dumps(to_jsonable_python(value), ensure_ascii=False, allow_nan=False)


def test_digest_is_keyed_when_a_key_is_given() -> None:
    assert digest(None, "abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert digest(b"k", "abc") == "hmac-sha256:" + hmac.new(b"k", b"abc", hashlib.sha256).hexdigest()
    assert digest(b"k1", "abc") != digest(b"k2", "abc")
    assert canonical({"b": 1, "a": [1]}) == canonical({"a": [1], "b": 1})


@dataclass
class Point:
    x: int


def test_result_text_is_text_or_json_or_a_clear_error() -> None:
    assert result_text("t", "plain") == "plain"
    assert json.loads(result_text("t", {"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
    assert json.loads(result_text("t", Point(3))) == {"x": 3}
    with pytest.raises(ToolResultError, match="tool 't' returned a object"):
        result_text("t", object())
    with pytest.raises(ToolResultError):
        result_text("t", float("nan"))


def test_bounded_cuts_and_says_so() -> None:
    assert bounded("short", 10) == "short"
    cut = bounded("x" * 1000, 100)
    assert len(cut) == 100 and cut.endswith("[truncated 900 characters]")
