"""Prompt templates: plain placeholders only, literal braces, clear errors for missing variables."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.team import PromptVariableError, TeamConfigError
from llmteam.team._prompt import render, template_fields


def test_fields_in_order_without_duplicates() -> None:
    assert template_fields("Reply to {query} as {triage}; again {query}", "t") == ("query", "triage")
    assert template_fields("JSON {{\"a\": 1}} and {x}", "t") == ("x",)


@pytest.mark.parametrize("bad", ["{a.}", "{.a}", "{a..b}", "{a.0}", "{a[0]}",
                                  "{a!r}", "{a:>10}", "{}", "{0}", "unclosed {", "}", "  "])
def test_bad_templates(bad: str) -> None:
    with pytest.raises(TeamConfigError, match="where"):
        template_fields(bad, "where")


def test_render_and_missing_variable() -> None:
    assert render("{{literal}} {x}-{y}", {"x": 1, "y": "two"}, "t") == "{literal} 1-two"
    missing = r"agent 'a': prompt variable \{y\} is not provided.*known variables: x"
    with pytest.raises(PromptVariableError, match=missing):
        render("{x} {y}", {"x": 1}, "agent 'a'")
    assert isinstance(PromptVariableError("m"), KeyError) and str(PromptVariableError("m")) == "m"


names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
literals = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(literals, names), max_size=6), literals, st.dictionaries(names, literals))
def test_render_substitutes_exactly(parts: list[tuple[str, str]], tail: str, extra: dict[str, str]) -> None:
    template = "x" + "".join(f"{lit}{{{name}}}" for lit, name in parts) + tail
    values = {**extra, **{name: f"<{name}>" for _, name in parts}}
    assert template_fields(template, "t") == tuple(dict.fromkeys(n for _, n in parts))
    assert render(template, values, "t") == "x" + "".join(f"{lit}<{name}>" for lit, name in parts) + tail


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes_unexpectedly(text: str) -> None:
    try:
        fields = template_fields(text, "t")
    except TeamConfigError:
        return
    try:
        render(text, dict.fromkeys(fields, "v"), "t")
    except PromptVariableError:
        assert "." in text  # a key path into a value that is not a mapping


def test_key_paths_walk_mapping_keys_only() -> None:
    assert template_fields("{order.id} {order.lines.count} {x}", "t") == ("order", "x")
    values = {"order": {"id": "A-1", "lines": {"count": 2}, "meta": {"k": [1]}}}
    assert render("{order.id}/{order.lines.count}/{order.meta}", values, "t") == 'A-1/2/{"k": [1]}'
    with pytest.raises(PromptVariableError, match=r"\{order.__class__\}: order has no key '__class__'"):
        render("{order.__class__}", values, "t")
    with pytest.raises(PromptVariableError, match=r"order.id has no key 'x' \(not a mapping"):
        render("{order.id.x}", values, "t")


SSN = "078-05-1120"


@pytest.mark.parametrize("value, kind", [(f"Jane Doe, SSN {SSN}", "text"), ([SSN], "a list"), (1205, "a number"),
                                         (True, "a boolean"), (None, "null")])
def test_a_key_path_into_a_plain_value_names_its_type_not_the_value(value: object, kind: str) -> None:
    """``{q.name}`` on a text input quoted the input (``not a mapping: 'Jane Doe, SSN ...'``) into the error, the
    audit chain and the spans."""
    with pytest.raises(PromptVariableError) as caught:
        render("{q.name}", {"q": value}, "agent 'fmt'")
    assert f"q has no key 'name' (not a mapping but {kind})" in str(caught.value)
    assert SSN not in str(caught.value) and "1205" not in str(caught.value)


def test_the_keys_an_error_lists_are_bounded() -> None:
    """Every key of the value was listed, however many and however long."""
    data = {f"k{i:05d}" + "x" * 1000: i for i in range(10_000)}
    with pytest.raises(PromptVariableError) as caught:
        render("{d.missing}", {"d": data}, "t")
    message = str(caught.value)
    assert len(message) < 1000 and message.endswith("and 9990 more)")
    assert "k00000xxx" in message and "k00010" not in message
