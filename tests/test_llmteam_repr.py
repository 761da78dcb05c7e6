"""bounded_repr: error messages quote any value in bounded space, without formatting the whole value first."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llmteam._repr import bounded_repr

values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300), st.binary(max_size=300)),
    lambda inner: st.one_of(st.lists(inner, max_size=8), st.dictionaries(st.text(max_size=20), inner, max_size=8)),
    max_leaves=40,
)


@settings(max_examples=100, deadline=None)
@given(value=values, limit=st.integers(min_value=10, max_value=200))
def test_never_longer_than_the_limit(value: Any, limit: int) -> None:
    assert len(bounded_repr(value, limit)) <= limit


@given(st.text(max_size=30))
def test_values_whose_repr_fits_are_their_repr(text: str) -> None:
    assume(len(repr(text)) <= 80)
    assert bounded_repr(text) == repr(text)


def test_huge_and_shared_values_stay_cheap() -> None:
    assert bounded_repr(10**5000) == "<int of about 5000 digits>"
    leaf: list[Any] = ["lol"] * 9
    for _ in range(9):  # 9**9 leaves through shared references: a plain repr would need gigabytes
        leaf = [leaf] * 9
    assert len(bounded_repr(leaf)) <= 80
    assert len(bounded_repr("x" * 10**6)) <= 80 and "..." in bounded_repr("x" * 10**6)
