"""Audit hooks: sealed access, denials, views and exports are audited, never raising, loop or no loop."""

from __future__ import annotations

import asyncio
import copy
import logging
import pickle
from typing import Any

import pytest

from llmteam.audit import AuditEventType
from llmteam.context import SealedDataAccessError, SecureAgentContext, create_secure_context
from llmteam.context._audit_hook import AuditEmitter

SECRET = "audit-SECRET-5c0ffee"


class FakeTrail:
    """Records log() calls; optionally fails."""

    def __init__(self, fail: bool = False, sync: bool = False) -> None:
        self.events: list[tuple[Any, dict[str, Any]]] = []
        self.fail = fail
        self.sync = sync

    def log(self, event_type: Any, **fields: Any) -> Any:
        if self.sync:
            self._record(event_type, fields)
            return None
        return self._alog(event_type, fields)

    async def _alog(self, event_type: Any, fields: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        self._record(event_type, fields)

    def _record(self, event_type: Any, fields: dict[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("store down")
        self.events.append((event_type, fields))

    @property
    def types(self) -> list[Any]:
        return [e for e, _ in self.events]


def ctx_with(trail: Any, audit_access: bool = True) -> SecureAgentContext:
    ctx = create_secure_context("agent-1", "triage", audit_access=audit_access, audit_trail=trail)
    ctx.set_sealed("api_key", SECRET)
    return ctx


async def test_sealed_success_and_denial_audited() -> None:
    trail = FakeTrail()
    ctx = ctx_with(trail)
    assert ctx.get_sealed("api_key", "agent-1") == SECRET
    with pytest.raises(SealedDataAccessError):
        ctx.get_sealed("api_key", "mallory")
    await ctx.flush_audit()
    assert trail.types == [AuditEventType.SEALED_DATA_ACCESSED, AuditEventType.ACCESS_DENIED]
    ok, denied = (f for _, f in trail.events)
    assert ok["actor_id"] == "agent-1" and ok["resource_id"] == "api_key" and ok["success"] is True
    assert denied["actor_id"] == "mallory" and denied["success"] is False and "mallory" in denied["error_message"]
    assert SECRET not in repr(trail.events)


async def test_views_and_checks_audited() -> None:
    trail = FakeTrail()
    ctx = ctx_with(trail)
    ctx.get_visible_context("orch", "pipeline_orch")
    ctx.get_visible_context("agent-2", "agent")
    ctx.check_access("orch", "pipeline_orch", {"api_key"})
    await ctx.flush_audit()
    assert trail.types == [AuditEventType.CONTEXT_ACCESSED, AuditEventType.ACCESS_DENIED, AuditEventType.ACCESS_DENIED]


async def test_nothing_audited_without_audit_access_except_exports() -> None:
    trail = FakeTrail()
    ctx = ctx_with(trail, audit_access=False)
    ctx.get_sealed("api_key", "agent-1")
    ctx.get_visible_context("orch", "pipeline_orch")
    with pytest.raises(PermissionError):
        ctx.get_sealed("api_key", "mallory")
    ctx.to_dict()
    await ctx.flush_audit()
    assert trail.events == []
    ctx.to_dict(include_sealed=True, requester_id="agent-1")
    with pytest.raises(PermissionError):
        ctx.to_dict(include_sealed=True, requester_id="mallory")
    await ctx.flush_audit()
    assert trail.types == [AuditEventType.DATA_EXPORTED, AuditEventType.ACCESS_DENIED]
    assert trail.events[0][1]["metadata"]["sealed_keys"] == ["api_key"]
    assert SECRET not in repr(trail.events)


def test_no_running_loop_never_raises_and_queues() -> None:
    trail = FakeTrail()
    ctx = ctx_with(trail)
    assert ctx.get_sealed("api_key", "agent-1") == SECRET
    with pytest.raises(SealedDataAccessError):
        ctx.get_sealed("api_key", "mallory")
    assert trail.events == [] and ctx._auditor is not None and ctx._auditor.pending == 2
    asyncio.run(ctx.flush_audit())
    assert trail.types == [AuditEventType.SEALED_DATA_ACCESSED, AuditEventType.ACCESS_DENIED]


def test_queued_events_are_sent_at_next_emit_under_a_loop() -> None:
    trail = FakeTrail()
    ctx = ctx_with(trail)
    ctx.get_sealed("api_key", "agent-1")  # no loop: queued

    async def later() -> None:
        ctx.get_visible_context("orch", "system")
        await asyncio.sleep(0.01)

    asyncio.run(later())
    assert trail.types == [AuditEventType.SEALED_DATA_ACCESSED, AuditEventType.CONTEXT_ACCESSED]


def test_queue_is_bounded_and_drops_oldest_with_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(AuditEmitter, "MAX_QUEUED", 3)
    trail = FakeTrail()
    ctx = ctx_with(trail)
    for _ in range(5):
        ctx.get_sealed("api_key", "agent-1")
    assert ctx._auditor is not None and ctx._auditor.pending == 3 and ctx._auditor.dropped == 2
    assert "audit queue full" in caplog.text


async def test_in_flight_tasks_are_bounded_and_referenced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AuditEmitter, "MAX_IN_FLIGHT", 2)
    trail = FakeTrail()
    ctx = ctx_with(trail)
    for _ in range(6):
        ctx.get_sealed("api_key", "agent-1")
    auditor = ctx._auditor
    assert auditor is not None and len(auditor._tasks) == 2 and auditor.pending == 6
    await ctx.flush_audit()
    assert len(trail.events) == 6 and auditor.pending == 0


async def test_failing_trail_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    trail = FakeTrail(fail=True)
    ctx = ctx_with(trail)
    assert ctx.get_sealed("api_key", "agent-1") == SECRET
    await ctx.flush_audit()
    assert "audit trail failed" in caplog.text
    sync_failing = FakeTrail(fail=True, sync=True)
    ctx2 = ctx_with(sync_failing)
    assert ctx2.get_sealed("api_key", "agent-1") == SECRET
    ctx2.get_visible_context("o", "system")
    assert "rejected" in caplog.text
    assert SECRET not in caplog.text


async def test_sync_trail_is_supported() -> None:
    trail = FakeTrail(sync=True)
    ctx = ctx_with(trail)
    ctx.get_sealed("api_key", "agent-1")
    assert trail.types == [AuditEventType.SEALED_DATA_ACCESSED]


def test_bad_trail_rejected_at_construction() -> None:
    with pytest.raises(TypeError, match="audit_trail must have a log"):
        SecureAgentContext("a", "A", _audit_trail=object())


def test_copies_share_the_trail_and_pickle_refuses() -> None:
    trail = FakeTrail()
    ctx = create_secure_context("a", "A", audit_trail=trail)
    assert copy.deepcopy(ctx).audit_trail is trail and copy.copy(ctx).audit_trail is trail
    with pytest.raises(TypeError, match="audit trail"):
        pickle.dumps(ctx)


async def test_with_real_audit_trail() -> None:
    from llmteam import audit
    from llmteam.audit import stores

    store = stores.MemoryAuditStore()
    trail = audit.AuditTrail(store, tenant_id="t1", use_context_tenant=False)
    ctx = ctx_with(trail)
    ctx.get_sealed("api_key", "agent-1")
    with pytest.raises(PermissionError):
        ctx.get_sealed("api_key", "mallory")
    ctx.to_dict(include_sealed=True, requester_id="agent-1")
    await ctx.flush_audit()
    records = store.get_all()
    assert [r.event_type for r in records] == [
        AuditEventType.SEALED_DATA_ACCESSED,
        AuditEventType.ACCESS_DENIED,
        AuditEventType.DATA_EXPORTED,
    ]
    assert records[1].success is False and records[1].actor_id == "mallory"
    assert (await trail.verify_chain()) == (True, [])
    assert all(SECRET not in repr(r.to_dict()) for r in records)


def test_emit_logs_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    class Exploding:
        def log(self, *a: Any, **k: Any) -> None:
            raise RuntimeError("boom")

    emitter = AuditEmitter(Exploding())

    async def go() -> None:
        emitter.emit(AuditEventType.ACCESS_DENIED, actor_id="x")

    asyncio.run(go())
    assert "rejected event security.access_denied" in caplog.text
