"""Which context events are audited as required (never dropped) and which as ordinary; sealed reads fail closed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmteam.context import (
    AuditBacklogError,
    ContextScope,
    HierarchicalContext,
    SealedDataAccessError,
    create_secure_context,
)
from llmteam.context._audit_hook import AuditEmitter

SECRET = "audited-SECRET-7e57"


class ListTrail:
    def __init__(self) -> None:
        self.actions: list[str] = []

    def log(self, event_type: Any, **fields: Any) -> None:
        self.actions.append(fields["action"])


class SpyEmitter:
    """Stands in for the AuditEmitter: records each event's action, outcome and whether it is required."""

    MAX_QUEUED = 0

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, bool]] = []

    def emit(self, event_type: Any, *, required: bool = False, **fields: Any) -> None:
        self.calls.append((fields["action"], fields["success"], required))

    def has_room_for_required(self) -> bool:
        return True


def test_everything_about_sealed_data_is_required_views_are_not() -> None:
    ctx = create_secure_context("agent-1", "triage", audit_access=True)
    ctx.set_sealed("api_key", SECRET)
    spy = SpyEmitter()
    ctx._auditor = spy  # type: ignore[assignment]
    ctx.get_sealed("api_key", "agent-1")
    ctx.to_dict(include_sealed=True, requester_id="agent-1")
    for call in (
        lambda: ctx.get_sealed("api_key", "mallory"),
        lambda: ctx.delete_sealed("api_key", "mallory"),
        lambda: ctx.to_dict(include_sealed=True, requester_id="mallory"),
        lambda: ctx.to_dict(include_sealed=True),
    ):
        with pytest.raises(SealedDataAccessError):
            call()
    required = list(spy.calls)
    spy.calls.clear()
    ctx.get_visible_context("orch", "pipeline_orch")
    ctx.get_visible_context("agent-2", "agent")
    ctx.check_access("orch", "pipeline_orch", {"api_key"})
    parent = HierarchicalContext(ContextScope.PIPELINE, "p")
    parent.set_child_context("agent-1", HierarchicalContext(ContextScope.AGENT, "agent-1", secure_context=ctx))
    parent.get_visible_children("agent-2", "agent")
    assert [r for *_, r in required] == [True] * 6 and [r for *_, r in spy.calls] == [False] * 4
    assert [(a, ok) for a, ok, _ in required] == [
        ("get_sealed", True),
        ("export_sealed", True),
        ("get_sealed", False),
        ("delete_sealed", False),
        ("export_context", False),
        ("export_sealed", False),
    ]


def test_sealed_reads_are_never_dropped_and_refused_past_the_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AuditEmitter, "MAX_QUEUED", 3)
    trail = ListTrail()
    ctx = create_secure_context("agent-1", "triage", audit_access=True, audit_trail=trail)
    ctx.set_sealed("api_key", SECRET)
    for _ in range(3):
        assert ctx.get_sealed("api_key", "agent-1") == SECRET
    with pytest.raises(AuditBacklogError, match="flush_audit") as info:
        ctx.get_sealed("api_key", "agent-1")  # no room for its record: the value does not leave
    assert SECRET not in str(info.value)
    with pytest.raises(AuditBacklogError):
        ctx.to_dict(include_sealed=True, requester_id="agent-1")
    for i in range(5):
        ctx.get_visible_context(f"v{i}", "system")  # ordinary events have their own budget
    asyncio.run(ctx.flush_audit())
    assert trail.actions.count("get_sealed") == 3 and trail.actions.count("view_context") == 3
    assert ctx.get_sealed("api_key", "agent-1") == SECRET  # room again once flushed


