"""The checked fields of one audit record: the usual call's quick recognition equals the full checks."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditSeverity, _fields
from llmteam.audit._fields import checked_fields, event_fields

STR_FIELDS = ("actor_type", "actor_id", "actor_ip", "action", "resource_type", "resource_id", "error_message",
              "pipeline_id", "run_id", "agent_name", "step_name")


class Kind(StrEnum):
    TOOL = "tool"


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6))
FLAT = st.dictionaries(st.text(max_size=6), SCALARS, max_size=8)
NESTED = st.dictionaries(st.text(max_size=3), st.lists(SCALARS, max_size=2) | FLAT, max_size=2)
# each log() argument: usual values and every kind of odd or wrong one (subclasses, wrong types, unknown names)
ARGUMENT = {
    **{name: st.text(max_size=8) | st.just(Kind.TOOL) | st.integers() | st.none() for name in STR_FIELDS},
    "severity": st.sampled_from([*AuditSeverity, "warning", "loud", 3]),
    "success": st.booleans() | st.integers(-1, 2) | st.none() | st.just("no"),
    "metadata": st.none() | FLAT | NESTED | st.just([1]),
    "old_value": st.none() | FLAT | st.just("x"),
    "new_value": st.none() | FLAT,
    "tags": st.none() | st.lists(st.text(max_size=3), max_size=2) | st.tuples(st.text(max_size=3)) | st.just([1]),
    "bogus": st.just(1),
}
EVENTS = st.sampled_from([AuditEventType.DATA_CREATED, "data.created", AuditEventType.ACTION_COMPLETED, "nope"])


def outcome(fields: Any, event: Any, kwargs: dict[str, Any]) -> Any:
    try:
        f = fields(event, kwargs)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    return f, {name: type(value) for name, value in f.items()}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional=ARGUMENT), EVENTS)
def test_fields_equal_the_checked_fields_on_any_arguments(kwargs: dict[str, Any], event: Any) -> None:
    assert outcome(event_fields, event, kwargs) == outcome(checked_fields, event, kwargs)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries({name: st.text(max_size=8) for name in STR_FIELDS[1:]},
                          optional={"actor_type": st.text(max_size=8), "severity": st.sampled_from(AuditSeverity),
                                    "success": st.booleans(), "metadata": st.none() | FLAT | NESTED}),
    st.sampled_from([AuditEventType.ACTION_COMPLETED, AuditEventType.ACCESS_DENIED, "data.created"]),
)
def test_usual_fields_take_no_checked_path_and_copy_the_metadata(kwargs: dict[str, Any], event: Any) -> None:
    """A tool call's arguments (and any plain-text call) are taken without the checked path, with equal fields."""
    expected = checked_fields(event, kwargs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_fields, "checked_fields", None)  # calling it would fail the test
        fields = event_fields(event, kwargs)
        assert fields == expected and type(fields["event_type"]) is AuditEventType
        assert fields["metadata"] is not kwargs.get("metadata") and fields["tags"] == []
        assert fields["metadata"] is not event_fields(event, kwargs)["metadata"]  # fresh containers per record
