from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit.verifier import tenant_id_problem
from llmteam.tenancy._validation import (
    FORBIDDEN_CATEGORIES,
    MAX_TENANT_ID_LENGTH,
    validate_override,
    validate_tenant_id,
)

BAD_IDS = [
    "", "   ", "\t\n", "a\x00b", "a\nb", "x\x7f", "a" * (MAX_TENANT_ID_LENGTH + 1), 5, None, "acme\tx", "a\x1b[31m",
    "acme\n5\n" + "0" * 64, "a\u2028b", "evil\u202eemca", "a" * 10_000,
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_tenant_ids_are_refused_naming_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        validate_tenant_id(bad)


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=tuple(FORBIDDEN_CATEGORIES)), min_size=1, max_size=50).filter(
    str.strip))
def test_printable_ids_are_accepted(tenant_id: str) -> None:
    assert validate_tenant_id(tenant_id) == tenant_id


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=20),
    st.characters(whitelist_categories=tuple(FORBIDDEN_CATEGORIES)),
    st.text(max_size=20),
)
def test_any_control_or_format_character_anywhere_is_refused(before: str, bad: str, after: str) -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        validate_tenant_id(before + bad + after)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.text(st.characters(codec="ascii"), max_size=20)))
def test_the_standalone_verifier_applies_the_same_rule(tenant_id: str) -> None:
    """The verifier (stdlib-only, copyable) has its own copy of the rule: both must agree on every input."""
    try:
        validate_tenant_id(tenant_id)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == (tenant_id_problem(tenant_id) is None)


def test_overrides() -> None:
    assert validate_override(None, "f") is None
    assert validate_override(0, "f") == 0
    assert validate_override(7, "f") == 7
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match="'f'"):
            validate_override(bad, "f")
