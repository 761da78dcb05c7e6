"""Identifier validation: the only gate before a table name reaches SQL text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.backends.identifiers import validate_identifier


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


def test_derived_names_must_fit_too() -> None:
    assert validate_identifier("a" * 51, suffixes=("_checkpoints",)) == "a" * 51
    with pytest.raises(ValueError) as info:
        validate_identifier("a" * 52, "audit table name", suffixes=("_checkpoints",))
    assert "'_checkpoints'" in str(info.value) and "51" in str(info.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: __import__("llmteam.audit.stores", fromlist=["x"]).SQLiteAuditStore(":memory:", table_name=t),
        lambda t: __import__("llmteam.roles", fromlist=["x"]).open_event_log("sqlite:///:memory:", table_name=t),
    ],
)
def test_stores_refuse_table_names_whose_derived_names_would_be_truncated(make: object) -> None:
    with pytest.raises(ValueError, match="too long"):
        make("t" * 60)  # type: ignore[operator]
