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


@pytest.mark.parametrize("bad", ["{a.b}", "{a[0]}", "{a!r}", "{a:>10}", "{}", "{0}", "unclosed {", "}", "  "])
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
    render(text, dict.fromkeys(fields, "v"), "t")
