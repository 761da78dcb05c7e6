"""Attacks on sealed-context exports (issue 11, items 9 and 10).

9: a sealed export's DATA_EXPORTED event must never be evicted from the audit queue (1,024 views issued outside an
   event loop used to push it out). 10: ``to_dict(include_sealed=True)`` must name an authorised requester.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmteam.audit import AuditEventType
from llmteam.context import AuditBacklogError, SealedDataAccessError, SensitivityLevel, create_secure_context
from llmteam.context._audit_hook import AuditEmitter

SECRET = "sealed-SECRET-7e57"


class Trail:
    def __init__(self) -> None:
        self.events: list[tuple[Any, dict[str, Any]]] = []

    async def log(self, event_type: Any, **fields: Any) -> None:
        self.events.append((event_type, fields))

    @property
    def types(self) -> list[Any]:
        return [e for e, _ in self.events]


def sealed_ctx(trail: Trail, audit_access: bool = True) -> Any:
    ctx = create_secure_context("agent-1", "A", SensitivityLevel.PUBLIC, audit_access=audit_access, audit_trail=trail)
    ctx.set_sealed("api_key", SECRET)
    return ctx


def test_export_event_survives_a_flood_of_views_outside_an_event_loop() -> None:
    trail = Trail()
    ctx = sealed_ctx(trail)
    assert ctx.to_dict(include_sealed=True, requester_id="agent-1")["_sealed"] == {"api_key": SECRET}
    for _ in range(AuditEmitter.MAX_QUEUED):  # the attacker's flood: audited views, no loop running
        ctx.get_visible_context("orch", "pipeline_orch")
    asyncio.run(ctx.flush_audit())
    assert trail.types.count(AuditEventType.DATA_EXPORTED) == 1
    assert trail.types[0] is AuditEventType.DATA_EXPORTED  # recorded in order, before the views that followed


def test_exports_that_cannot_be_recorded_are_refused_not_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AuditEmitter, "MAX_QUEUED", 4)
    trail = Trail()
    ctx = sealed_ctx(trail)
    for _ in range(4):
        ctx.to_dict(include_sealed=True, requester_id="agent-1")
    with pytest.raises(AuditBacklogError, match="flush_audit") as info:
        ctx.to_dict(include_sealed=True, requester_id="agent-1")
    assert SECRET not in str(info.value)
    ctx.get_visible_context("orch", "pipeline_orch")  # ordinary events still never raise
    asyncio.run(ctx.flush_audit())
    assert trail.types.count(AuditEventType.DATA_EXPORTED) == 4
    assert ctx.to_dict(include_sealed=True, requester_id="agent-1")["_sealed"] == {"api_key": SECRET}


def test_a_flood_drops_the_newest_ordinary_events_never_an_export_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AuditEmitter, "MAX_QUEUED", 3)
    trail = Trail()
    ctx = sealed_ctx(trail)
    ctx.get_visible_context("first-view", "pipeline_orch")
    ctx.to_dict(include_sealed=True, requester_id="agent-1")
    for i in range(5):
        ctx.get_visible_context(f"view-{i}", "pipeline_orch")
    asyncio.run(ctx.flush_audit())
    actors = [(e, f["actor_id"]) for e, f in trail.events]
    assert actors == [(AuditEventType.CONTEXT_ACCESSED, "first-view"), (AuditEventType.DATA_EXPORTED, "agent-1"),
                      (AuditEventType.CONTEXT_ACCESSED, "view-0"), (AuditEventType.CONTEXT_ACCESSED, "view-1"),
                      (AuditEventType.ACTION_FAILED, "")]  # views past the budget dropped, and the drop recorded
    assert trail.events[-1][1]["action"] == "audit_events_dropped"


async def test_export_without_a_requester_is_refused_and_audited() -> None:
    trail = Trail()
    ctx = sealed_ctx(trail, audit_access=False)
    with pytest.raises(SealedDataAccessError, match="requester_id"):
        ctx.to_dict(include_sealed=True)
    await ctx.flush_audit()
    assert trail.types == [AuditEventType.ACCESS_DENIED]
    assert SECRET not in repr(trail.events)
    assert "_sealed" not in ctx.to_dict()  # the plain export needs no requester and has no sealed values
    assert ctx.to_dict(include_sealed=True, requester_id="agent-1")["_sealed"] == {"api_key": SECRET}
    for other in ("agent-2", "", "AGENT-1"):
        with pytest.raises(PermissionError):
            ctx.to_dict(include_sealed=True, requester_id=other)
