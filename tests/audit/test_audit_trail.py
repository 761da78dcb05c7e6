"""AuditTrail: gap-free per-tenant chains under concurrency, buffering, retries, tenancy and query rules."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmteam.audit import (
    AuditEventType,
    AuditQuery,
    AuditSeverity,
    AuditStorageError,
    AuditTrail,
    TenantAwareAuditTrail,
)
from llmteam.audit.stores import MemoryAuditStore
from llmteam.audit.stores._memory import _record, _row
from llmteam.tenancy import TenantContext

from .._support.seeing import SeeingAppends

EV = AuditEventType.DATA_CREATED


def trail(store: Any, tenant: str = "acme", **kw: Any) -> AuditTrail:
    return AuditTrail(store, tenant_id=tenant, use_context_tenant=False, **kw)


async def assert_chain(store: Any, tenant: str, n: int) -> None:
    recs = await store.get_by_sequence_range(tenant, 1, n + 10)
    assert [r.sequence_number for r in recs] == list(range(1, n + 1))
    prev = ""
    for r in recs:
        assert r.previous_checksum == prev and r.verify_integrity()
        prev = r.checksum


async def test_first_record_and_fields(audit_trail: AuditTrail) -> None:
    r = await audit_trail.log(EV, actor_id="u", metadata=None, tags=None)
    assert r.sequence_number == 1 and r.previous_checksum == "" and r.tenant_id == "test_tenant"
    assert r.timestamp.tzinfo is not None and r.actor_type == "system" and r.metadata == {} and r.tags == []
    r.metadata["x"] = 1  # the returned record shares nothing with the stored one
    stored = (await audit_trail.store.get_by_sequence_range("test_tenant", 1, 1))[0]
    assert stored.metadata == {} and stored.verify_integrity()


async def test_concurrent_tasks_and_two_trails_are_gap_free() -> None:
    store = MemoryAuditStore()
    a, b = trail(store), trail(store)
    await asyncio.gather(*(t.log(EV, action=str(i)) for i in range(60) for t in (a, b)))
    await assert_chain(store, "acme", 120)
    ok, missing = await a.verify_chain()
    assert ok and missing == []


async def test_one_trail_many_tenants_keeps_separate_chains() -> None:
    store = MemoryAuditStore()
    t = AuditTrail(store)

    async def work(tenant: str) -> None:
        with TenantContext(tenant):
            for _ in range(10):
                await t.log(EV)

    await asyncio.gather(work("a"), work("b"), work("c"))
    for tenant in "abc":
        await assert_chain(store, tenant, 10)


async def test_tenant_property() -> None:
    store = MemoryAuditStore()
    assert AuditTrail(store).tenant_id == "default"
    assert AuditTrail(store, tenant_id="x").tenant_id == "x"
    with TenantContext("ctx"):
        assert AuditTrail(store, tenant_id="x").tenant_id == "ctx"
        assert AuditTrail(store, tenant_id="x", use_context_tenant=False).tenant_id == "x"
        assert TenantAwareAuditTrail(store).tenant_id == "ctx"


async def test_buffered_mode_flushes_and_never_duplicates() -> None:
    store = MemoryAuditStore()
    t = trail(store, write_through=False, buffer_size=5)
    for _ in range(4):
        await t.log(EV)
    assert await store.count() == 0
    await t.log(EV)
    assert await store.count() == 5
    t2 = trail(store, write_through=False, auto_flush=False)
    await t2.log(EV)
    await t2.flush()
    await t2.flush()
    await assert_chain(store, "acme", 6)


class FlakyStore(MemoryAuditStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = 0

    async def append(self, record: Any) -> None:
        if self.fail:
            self.fail -= 1
            raise AuditStorageError("disk full")
        await super().append(record)

    atomic_batches = False  # appends one by one, so a failure hits one record


async def test_flush_failure_keeps_records_buffered() -> None:
    store = FlakyStore()
    t = trail(store, write_through=False, auto_flush=False)
    for _ in range(3):
        await t.log(EV)
    store.fail = 1
    with pytest.raises(AuditStorageError):
        await t.flush()
    await t.flush()
    await assert_chain(store, "acme", 3)


async def test_buffered_records_renumbered_after_another_writer() -> None:
    store = MemoryAuditStore()
    buffered = trail(store, write_through=False, auto_flush=False)
    await buffered.log(EV)
    await trail(store).log(EV)  # takes sequence 1 first
    await buffered.flush()
    await assert_chain(store, "acme", 2)


async def test_duplicate_reloads_head_and_retries() -> None:
    store = MemoryAuditStore()
    a, b = trail(store), trail(store)
    await a.log(EV)
    await b.log(EV)  # a's cached head is now stale
    r = await a.log(EV)
    assert r.sequence_number == 3
    await assert_chain(store, "acme", 3)


async def test_real_storage_error_is_raised_not_retried_forever() -> None:
    store = FlakyStore()
    store.fail = 1
    with pytest.raises(AuditStorageError):
        await trail(store).log(EV)
    assert await store.count() == 0


async def test_bad_input_is_rejected_and_nothing_written() -> None:
    store = MemoryAuditStore()
    t = trail(store)
    with pytest.raises(ValueError, match="nope"):
        await t.log("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await t.log(EV, severity="loud")
    with pytest.raises(TypeError):
        await t.log(EV, actor_id=5)
    with pytest.raises(TypeError):
        await t.log(EV, bogus=1)
    assert await store.count() == 0
    assert (await t.log("data.created")).event_type is EV


async def test_query_rules() -> None:
    store = MemoryAuditStore()
    t = trail(store)
    await t.log(EV, action="Create invoice", tags=["a"])
    await t.log(AuditEventType.DATA_DELETED, error_message="boom", success=False, tags=["b"])
    await trail(store, "other").log(EV)
    assert len(await t.query(AuditQuery())) == 2
    with pytest.raises(PermissionError, match="other"):
        await t.query(AuditQuery(tenant_id="other"))
    cross = trail(store, allow_cross_tenant=True)
    assert len(await cross.query(AuditQuery(tenant_id="other"))) == 1
    with pytest.raises(ValueError, match="order_by"):
        await t.query(AuditQuery(order_by="actor_id"))
    assert [r.sequence_number for r in await t.query(AuditQuery(search_text="INVOICE"))] == [1]
    assert [r.sequence_number for r in await t.query(AuditQuery(tags=["b", "z"]))] == [2]
    naive_now = datetime.now(timezone.utc).replace(tzinfo=None)
    window = AuditQuery(start_time=naive_now - timedelta(minutes=1), end_time=naive_now + timedelta(minutes=1))
    assert len(await t.query(window)) == 2
    asc = await t.query(AuditQuery(order_by="sequence_number", order_desc=False, limit=1, offset=1))
    assert [r.sequence_number for r in asc] == [2]
    q = AuditQuery()
    await t.query(q)
    assert q.tenant_id is None  # the trail works on a copy


async def test_verify_chain_detects_gaps_and_tampering() -> None:
    store = MemoryAuditStore()
    t = trail(store)
    assert await t.verify_chain() == (True, [])
    for _ in range(5):
        await t.log(EV)
    assert await t.verify_chain(2, 4) == (True, [])
    row = store._tenants["acme"][3]  # a stored record is a tuple of its values: tamper with a copy put in its place
    store._tenants["acme"][3] = _row(dataclasses.replace(_record(row), action="edited"))
    assert await t.verify_chain() == (False, [])
    del store._tenants["acme"][3]
    assert await t.verify_chain() == (False, [3])


async def test_convenience_methods(audit_trail: AuditTrail) -> None:
    r = await audit_trail.log_pipeline_started("p", "r", "alice", input_summary="in")
    assert (r.event_type, r.actor_type, r.action, r.resource_type, r.new_value) == (
        AuditEventType.PIPELINE_STARTED, "user", "start", "pipeline", {"input_summary": "in"})
    r = await audit_trail.log_pipeline_completed("p", "r")
    assert r.event_type is AuditEventType.PIPELINE_COMPLETED and r.new_value is None and r.action == "complete"
    r = await audit_trail.log_pipeline_failed("p", "r", "err")
    assert (r.severity, r.success, r.error_message) == (AuditSeverity.ERROR, False, "err")
    r = await audit_trail.log_access_denied("bob", "doc", "d1", "no")
    assert (r.event_type, r.severity, r.action, r.success) == (AuditEventType.ACCESS_DENIED, AuditSeverity.WARNING,
                                                              "access_denied", False)
    r = await audit_trail.log_approval(False, "carol", "req", reason="late")
    assert (r.event_type, r.action, r.metadata, r.resource_type) == (AuditEventType.APPROVAL_REJECTED, "reject",
                                                                    {"reason": "late"}, "approval_request")
    r = await audit_trail.log_config_change("dave", "cfg", "c1", {"a": 1}, {"a": 2})
    assert (r.event_type, r.action, r.old_value) == (AuditEventType.CONFIG_CHANGED, "update", {"a": 1})


async def test_log_many_is_one_linked_batch(audit_trail: AuditTrail) -> None:
    recs = await audit_trail.log_many([{"event_type": EV, "actor_id": str(i)} for i in range(20)])
    assert [r.sequence_number for r in recs] == list(range(1, 21))
    await assert_chain(audit_trail.store, "test_tenant", 20)
    with pytest.raises(ValueError):
        await audit_trail.log_many([{"actor_id": "x"}])


async def test_a_batch_shares_one_timestamp_and_keeps_its_order_by_time(audit_trail: AuditTrail) -> None:
    before = datetime.now(timezone.utc)
    recs = await audit_trail.log_many([{"event_type": EV, "actor_id": str(i)} for i in range(5)])
    assert len({r.timestamp for r in recs}) == 1 and before <= recs[0].timestamp <= datetime.now(timezone.utc)
    for desc in (False, True):  # equal times: the sequence numbers order them
        found = await audit_trail.query(AuditQuery(order_by="timestamp", order_desc=desc))
        assert [r.actor_id for r in found] == [str(i) for i in (range(4, -1, -1) if desc else range(5))]
    later = await audit_trail.log(EV)
    assert later.timestamp >= recs[0].timestamp


def test_license_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmteam.licensing import FeatureNotLicensedError

    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")
    with pytest.raises(FeatureNotLicensedError):
        AuditTrail(MemoryAuditStore())
    monkeypatch.delenv("LLMTEAM_LICENSE_ENFORCE")
    AuditTrail(MemoryAuditStore())


async def test_the_caller_changing_its_metadata_afterwards_changes_no_record() -> None:
    store = MemoryAuditStore()
    t = trail(store)
    flat: dict[str, Any] = {"call_id": "c1", "executed": True}
    empty: dict[str, Any] = {}
    nested: dict[str, Any] = {"a": [1]}
    records = [await t.log(EV, metadata=flat, success=True, severity=AuditSeverity.INFO),
               await t.log(EV, metadata=empty, old_value=empty),
               await t.log(EV, metadata=nested, tags=["x"])]
    flat["executed"] = False
    empty["x"] = 1
    nested["a"].append(2)
    assert [r.metadata for r in records] == [{"call_id": "c1", "executed": True}, {}, {"a": [1]}]
    assert records[1].old_value == {}
    assert all(r.verify_integrity() for r in records)
    assert [r.metadata for r in await store.get_by_sequence_range("acme", 1, 3)] == [r.metadata for r in records]


async def test_a_dict_or_list_subclass_the_caller_changes_afterwards_changes_no_record() -> None:
    """Containers of a subclass (an OrderedDict, a defaultdict, a user's dict or list type) are copied too."""

    class Meta(dict):  # type: ignore[type-arg]
        pass

    class Tags(list):  # type: ignore[type-arg]
        pass

    store = MemoryAuditStore()
    t = trail(store)
    meta = Meta(tool="lookup", args=OrderedDict(n=[1]))
    old = defaultdict(list, {"k": [1]})
    tags = Tags(["a"])
    rec = await t.log(EV, metadata=meta, old_value=old, tags=tags)
    meta["tool"] = "changed"
    meta["args"]["n"].append(2)
    old["k"].append(2)
    tags.append("b")
    assert rec.metadata == {"tool": "lookup", "args": {"n": [1]}} and rec.old_value == {"k": [1]}
    assert rec.tags == ["a"] and rec.verify_integrity()
    stored = (await store.get_by_sequence_range("acme", 1, 1))[0]
    assert (stored.metadata, stored.old_value, stored.tags) == (rec.metadata, rec.old_value, rec.tags)
    assert stored.checksum == rec.checksum


class SeeingStore(SeeingAppends, MemoryAuditStore):
    """A store subclass that overrides append and append_many: it must see every record the trail appends."""

    group_commit = True


async def test_a_store_overriding_append_sees_every_record_the_trail_appends() -> None:
    store = SeeingStore()
    t = trail(store)
    await t.log(EV)
    await t.log_many([{"event_type": EV}, {"event_type": EV, "metadata": {"k": 1}}])
    await asyncio.gather(*(t.log(EV) for _ in range(5)))  # group commit
    assert sorted(store.seen) == list(range(1, 9))
    await assert_chain(store, "acme", 8)


async def test_text_utf8_cannot_hold_is_refused_by_name_and_the_chain_goes_on(tmp_path: Any) -> None:
    # a lone surrogate (what a bad decode with errors="surrogateescape" leaves) raised a bare UnicodeEncodeError
    # from deep inside the checksum; it is a clear error naming the field, and nothing is stored or skipped
    from llmteam.audit.stores import SQLiteAuditStore

    for store in (MemoryAuditStore(), SQLiteAuditStore(str(tmp_path / "audit.db"))):
        t = trail(store)
        for kwargs in ({"actor_id": "a\ud800b"}, {"metadata": {"note": "\udcff"}}):
            with pytest.raises(ValueError, match="lone surrogate") as info:
                await t.log(EV, **kwargs)
            assert next(iter(kwargs)) in str(info.value)
        with pytest.raises(ValueError, match="error_message.*lone surrogate"):
            await t.log_many([{"event_type": EV, "actor_id": "ok"}, {"event_type": EV, "error_message": "\ud83d"}])
        assert (await t.log(EV, actor_id="ok")).sequence_number == 1
        await assert_chain(store, "acme", 1)
        await store.close()
