"""Identifier validation: the only gate before a table name reaches SQL text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam._backends.identifiers import validate_identifier


@pytest.mark.parametrize("name", ["tenants", "audit_log", "_x", "a" * 63, "t_0123"])
def test_valid_names_pass_through(name: str) -> None:
    assert validate_identifier(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "Tenants", "a" * 64, "x; DROP TABLE y", 'a"b', "a-b", "a b"])
def test_invalid_names_are_refused_with_the_value(name: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_identifier(name, "table name")
    assert repr(name) in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_anything_accepted_is_a_plain_identifier(name: str) -> None:
    try:
        validate_identifier(name)
    except ValueError:
        return
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", name) and len(name) <= 63
