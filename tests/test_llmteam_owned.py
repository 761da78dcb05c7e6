"""``llmteam._owned.own``: immutable values pass as they are; anything else comes back a deep copy."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from llmteam._owned import IMMUTABLE, own

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(), st.binary())
NESTED = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                      max_leaves=20)


def _containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in _containers(v))]
    if isinstance(value, list):
        return [id(value), *(i for v in value for i in _containers(v))]
    return []


@given(NESTED)
def test_own_never_shares_a_mutable_object(value: Any) -> None:
    kept = own(value)
    assert kept == value
    if type(value) in IMMUTABLE:
        assert kept is value
    assert not set(_containers(kept)) & set(_containers(value))  # no list or dict of the caller's inside
