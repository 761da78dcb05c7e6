"""Audit hooks: sealed access, denials, views and exports are audited, never raising, loop or no loop."""

from __future__ import annotations

import asyncio
import copy
import logging
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType
from llmteam.context import AuditBacklogError, SealedDataAccessError, SecureAgentContext, create_secure_context
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


def fields_of(trail: FakeTrail, action: str) -> list[dict[str, Any]]:
    return [f for _, f in trail.events if f["action"] == action]


def test_a_sealed_denial_survives_a_flood_of_views(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the review's move: one denied sealed read, then a queue's worth of cheap views with no event loop
    monkeypatch.setattr(AuditEmitter, "MAX_QUEUED", 4)
    trail = FakeTrail()
    ctx = ctx_with(trail)
    with pytest.raises(SealedDataAccessError):
        ctx.get_sealed("api_key", "mallory")
    for i in range(10):
        ctx.get_visible_context(f"viewer-{i}", "agent")
    auditor = ctx._auditor
    assert auditor is not None and auditor.dropped == 6
    assert "audit queue full" in caplog.text
    asyncio.run(ctx.flush_audit())
    denial = fields_of(trail, "get_sealed")
    assert len(denial) == 1 and denial[0]["actor_id"] == "mallory" and denial[0]["success"] is False
    # the newest noise gave way, not the older records; and the loss itself is on the record
    assert [f["actor_id"] for f in fields_of(trail, "view_context")] == [f"viewer-{i}" for i in range(4)]
    (report,) = fields_of(trail, "audit_events_dropped")
    assert report["metadata"]["dropped"] == 6 and report["success"] is False
    assert trail.types[-1] is AuditEventType.ACTION_FAILED and auditor.pending == 0


def test_denials_past_the_backlog_are_merged_never_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AuditEmitter, "MAX_QUEUED", 2)
    monkeypatch.setattr(AuditEmitter, "MAX_MERGED", 2)
    trail = FakeTrail()
    ctx = ctx_with(trail)
    attempts = ["a", "b"] + ["mallory"] * 5 + ["eve"] * 2 + [f"bot-{i}" for i in range(4)]
    for who in attempts:
        with pytest.raises(SealedDataAccessError):  # a denied caller is still told so, never a backlog error
            ctx.get_sealed("api_key", who)
    auditor = ctx._auditor
    assert auditor is not None and auditor.dropped == 0 and auditor.merged == len(attempts) - 2
    asyncio.run(ctx.flush_audit())
    denials = fields_of(trail, "get_sealed")
    counted = {f["actor_id"]: f["metadata"].get("repeats", 1) for f in denials}
    assert counted == {"a": 1, "b": 1, "mallory": 5, "eve": 2, "*": 4}  # past MAX_MERGED actors: one tally
    assert sum(counted.values()) == len(attempts)
    assert all(f["success"] is False and f["metadata"]["owner_id"] == "agent-1" for f in denials)


def test_a_queued_event_keeps_the_tenant_it_was_emitted_under() -> None:
    from llmteam.audit import AuditTrail
    from llmteam.audit.stores import MemoryAuditStore
    from llmteam.tenancy import TenantContext

    store = MemoryAuditStore()
    ctx = ctx_with(AuditTrail(store))  # follows the tenant context
    with TenantContext("acme"):
        ctx.get_sealed("api_key", "agent-1")  # no loop: queued

    async def flush_as_another_tenant() -> None:
        with TenantContext("globex"):
            await ctx.flush_audit()

    asyncio.run(flush_as_another_tenant())
    assert [(r.tenant_id, r.action) for r in store.get_all()] == [("acme", "get_sealed")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["read", "deny", "deny2", "view", "export"]), max_size=40))
def test_security_events_are_all_accounted_for(moves: list[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AuditEmitter, "MAX_QUEUED", 3)
        patch.setattr(AuditEmitter, "MAX_MERGED", 1)
        trail = FakeTrail()
        ctx = ctx_with(trail)
        check_accounting(ctx, trail, moves)


def check_accounting(ctx: SecureAgentContext, trail: FakeTrail, moves: list[str]) -> None:
    auditor = ctx._auditor
    assert auditor is not None
    reads = denials = views = 0
    for move in moves:
        try:
            if move == "read":
                ctx.get_sealed("api_key", "agent-1")
                reads += 1
            elif move == "export":
                ctx.to_dict(include_sealed=True, requester_id="agent-1")
                reads += 1
            elif move == "view":
                ctx.get_visible_context("o", "system")
                views += 1
            else:
                denials += 1
                ctx.get_sealed("api_key", "mallory" if move == "deny" else "eve")
        except (AuditBacklogError, SealedDataAccessError):
            pass
        assert len(auditor._queue) <= 2 * 3 and len(auditor._tally) <= 1 + 2  # bounded whatever the moves
    asyncio.run(ctx.flush_audit())
    got = [f for _, f in trail.events]
    granted = [f for f in got if f["action"] in ("get_sealed", "export_sealed") and f["success"]]
    assert len(granted) == reads and all("repeats" not in f["metadata"] for f in granted)  # one record each
    assert sum(f["metadata"].get("repeats", 1) for f in got if f["action"] == "get_sealed" and not f["success"]) \
        == denials
    dropped = sum(f["metadata"]["dropped"] for f in got if f["action"] == "audit_events_dropped")
    assert len(fields_of(trail, "view_context")) + dropped == views and dropped == auditor.dropped


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
