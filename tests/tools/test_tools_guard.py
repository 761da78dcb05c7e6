"""Sealed-value screening, keyed digests and result text for tool calls."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.context import SensitivityLevel
from llmteam.tools import SealedValue, ToolResultError, digest
from llmteam.tools._guard import (
    MAX_ARGUMENT_DEPTH,
    MAX_SEALED_FIELDS,
    Digester,
    bounded,
    canonical,
    parse_arguments,
    result_text,
    sealed_leak,
    sealed_texts,
    value_texts,
)

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


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="ab\\\"/\u00e9\u2028\n-", max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="ab\\\"\u00e9", max_size=3), inner,
                                                               max_size=3),
    max_leaves=8,
)


def _texts(parsed: object) -> list[str]:
    texts: list[str] = []
    pending = [parsed]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return texts


def _full_scan(raw: str, parsed: object, sealed: list[SealedValue], agent: str,
               level: SensitivityLevel) -> SealedValue | None:
    """The screening spelled out: every value not cleared, searched in the raw text and in every decoded string."""
    texts = [raw, *_texts(parsed)]
    return next((v for v in sealed if v.text and not v.cleared(agent, level) and any(v.text in t for t in texts)),
                None)


@given(JSON, st.booleans(), st.lists(st.text(alphabet="ab\\\"/\u00e9\u2028\n-", min_size=1, max_size=3), max_size=3),
       st.data())
def test_searching_only_the_raw_text_when_it_has_no_escape_finds_what_a_full_scan_finds(
    value: object, ascii_only: bool, secrets: list[str], data: st.DataObject
) -> None:
    # a decoded string is searched apart only when the raw arguments hold a backslash: same verdict as a full scan
    raw = json.dumps({"v": value}, ensure_ascii=ascii_only)
    parsed = json.loads(raw)
    strings = [t for t in _texts(parsed) if t]
    if strings:  # a secret cut from one of the decoded strings, so the escaped cases are hit
        text = data.draw(st.sampled_from(strings))
        start = data.draw(st.integers(0, len(text) - 1))
        end = data.draw(st.integers(start + 1, len(text)))
        secrets.insert(data.draw(st.integers(0, len(secrets))), text[start:end])
    sealed = [SealedValue("owner", SensitivityLevel.SECRET, secret) for secret in secrets]
    expected = _full_scan(raw, parsed, sealed, "agent", SensitivityLevel.INTERNAL)
    assert sealed_leak(raw, parsed, sealed, "agent", SensitivityLevel.INTERNAL) is expected


def test_a_sealed_value_needs_a_sensitivity_level() -> None:
    with pytest.raises(TypeError, match="level='secret' must be a SensitivityLevel"):
        SealedValue("vault", "secret", "sk-live-8812")  # type: ignore[arg-type]


@settings(deadline=None)  # its first example imports pydantic_core: slow on a loaded machine
@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()))
def test_a_scalar_result_is_the_same_json_as_through_pydantic(value: object) -> None:
    from pydantic_core import to_jsonable_python

    assert result_text("t", value) == json.dumps(to_jsonable_python(value), ensure_ascii=False, allow_nan=False)


def test_an_int_result_too_long_for_json_is_refused_like_any_unserialisable_result() -> None:
    huge = 10**5000  # beyond Python's int-to-text limit: json.dumps raises ValueError as well
    with pytest.raises(ValueError):
        json.dumps(huge)
    with pytest.raises(ToolResultError, match="returned a int"):
        result_text("t", huge)
    assert result_text("t", -(10**300)) == json.dumps(-(10**300))


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=8))
def test_the_prebuilt_encoders_write_what_json_dumps_writes(value: object) -> None:
    # canonical() and result_text() keep one encoder each instead of json.dumps building one per call
    assert canonical(value) == json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                          default=repr)
    if isinstance(value, str):
        return  # text goes to the model as it is
    try:
        expected = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN or infinity: not JSON
        with pytest.raises(ToolResultError):
            result_text("t", value)
    else:
        assert result_text("t", value) == expected


def test_digest_is_keyed_when_a_key_is_given() -> None:
    assert digest(None, "abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert digest(b"k", "abc") == "hmac-sha256:" + hmac.new(b"k", b"abc", hashlib.sha256).hexdigest()
    assert digest(b"k1", "abc") != digest(b"k2", "abc")
    assert canonical({"b": 1, "a": [1]}) == canonical({"a": [1], "b": 1})


@given(key=st.none() | st.binary(max_size=200) | st.sampled_from([b"k" * 63, b"\xff" * 64, b"\x00" * 65, b"k" * 128]),
       texts=st.lists(st.text(), min_size=1, max_size=5))
def test_a_digester_reused_gives_the_one_shot_digest_of_every_text(key: bytes | None, texts: list[str]) -> None:
    # the key's HMAC state is prepared once (keys shorter than, as long as and longer than SHA-256's 64-byte
    # block) and copied per digest: every digest is the one-shot HMAC's, and none may leave anything in the state
    digester = Digester(key)
    for text in texts:
        data = text.encode("utf-8")
        expected = ("hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest() if key
                    else "sha256:" + hashlib.sha256(data).hexdigest())
        assert digester(text) == expected == digest(key, text)


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


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_nested = st.recursive(st.none() | st.integers() | st.text(max_size=3),
                       lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=2), c, max_size=2),
                       max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_nested, st.integers(0, 80))
def test_arguments_are_parsed_unless_nested_deeper_than_the_bound(inner: object, wrap: int) -> None:
    value = {"a": inner}
    for _ in range(wrap):
        value = {"a": [value]} if wrap % 2 else {"a": value}
    parsed, problem = parse_arguments(json.dumps(value))
    if _depth(value) <= MAX_ARGUMENT_DEPTH:
        assert (parsed, problem) == (value, None)
    else:
        assert parsed is None and problem is not None and f"deeper than {MAX_ARGUMENT_DEPTH} levels" in problem


def test_parse_arguments_blank_invalid_and_beyond_the_parser() -> None:
    assert parse_arguments("  ") == ({}, None)
    assert parse_arguments("{not json") == (None, None)  # validation names the problem
    parsed, problem = parse_arguments("[" * 100_000 + "]" * 100_000)  # deeper than json's own recursion
    assert parsed is None and problem is not None


def test_value_texts_gives_every_string_and_the_text_of_every_other_value() -> None:
    value = {"k": [1, 2.5, "s", None, True, {"n": (3,)}], "key2": "v"}
    assert sorted(value_texts(value)) == sorted(["k", "1", "2.5", "s", "n", "3", "key2", "v"])
    assert sorted(value_texts(value, keys=False)) == sorted(["1", "2.5", "s", "3", "v"])


def test_sealed_texts_trim_and_split_a_structured_output_into_its_long_values() -> None:
    assert sealed_texts("  sk-LIVE-12345\n") == ["sk-LIVE-12345"]
    assert sealed_texts(" \n ") == []
    output = '{"user": "ops", "api_key": "sk-LIVE-12345", "pin": 4111111111111111, "ok": true}'
    whole, *fields = sealed_texts(output, structured=True)
    assert whole == output and sorted(fields) == ["4111111111111111", "sk-LIVE-12345"]  # "ops", True: too short
    many = json.dumps({f"f{i}": f"value-{i:06d}" for i in range(1000)})
    assert len(sealed_texts(many, structured=True)) == MAX_SEALED_FIELDS + 1  # the whole text and 256 values
    assert sealed_texts("not json", structured=True) == ["not json"]
