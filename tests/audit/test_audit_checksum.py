"""Checksum helpers: the known texts of empty nested values are exactly what the canonical encoder gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit._checksum import nested_json
from llmteam.audit.verifier import canonical_json

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.just("")
    | st.just({}) | st.just([]) | st.just(0) | st.just(()),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_nested_json_is_the_canonical_text(value: Any) -> None:
    assert nested_json(value) == canonical_json(value)


def test_empty_values_take_the_known_text() -> None:
    for value in (None, {}, [], "", 0, False, ()):
        assert nested_json(value) == canonical_json(value)
