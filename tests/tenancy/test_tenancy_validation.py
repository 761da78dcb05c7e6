from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tenancy._validation import MAX_TENANT_ID_LENGTH, validate_override, validate_tenant_id

BAD_IDS = ["", "   ", "\t\n", "a\x00b", "a\nb", "x\x7f", "a" * (MAX_TENANT_ID_LENGTH + 1), 5, None]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_tenant_ids_are_refused_naming_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        validate_tenant_id(bad)


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=50).filter(str.strip))
def test_printable_ids_are_accepted(tenant_id: str) -> None:
    assert validate_tenant_id(tenant_id) == tenant_id


def test_overrides() -> None:
    assert validate_override(None, "f") is None
    assert validate_override(0, "f") == 0
    assert validate_override(7, "f") == 7
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match="'f'"):
            validate_override(bad, "f")
