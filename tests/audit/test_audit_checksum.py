"""Checksum helpers: the known texts of empty nested values are exactly what the canonical encoder gives; text
UTF-8 cannot hold gets an error naming its field."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord
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


def test_a_record_built_by_hand_with_a_lone_surrogate_gets_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"resource_id.*lone surrogate '\\udc80'"):
        AuditRecord(record_id="r", sequence_number=1, timestamp=datetime.now(timezone.utc),
                    event_type=AuditEventType.DATA_CREATED, tenant_id="acme", resource_id="x\udc80")
