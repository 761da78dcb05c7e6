"""MemoryAuditStore: its bound (the oldest records go first, across tenants; a tenant left without records is forgotten)
and its rows (a tuple of each record's values, read back as new records)."""

from __future__ import annotations

import gc
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import (
    AuditEventType,
    AuditLedger,
    AuditQuery,
    AuditRecord,
    AuditSeverity,
    AuditStorageError,
    AuditTrail,
    SigningKey,
)
from llmteam.audit._query import ORDER_BY_FIELDS, matcher, normalized, sort_key
from llmteam.audit.stores import MemoryAuditStore, _memory
from llmteam.audit.verifier import canonical_record_values

from .test_audit_record import any_records


def _record(tenant: str, seq: int) -> AuditRecord:
    return AuditRecord(f"{tenant}-{seq}", seq, datetime.now(timezone.utc), AuditEventType.DATA_CREATED,
                       tenant_id=tenant)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=60), st.integers(1, 8))
async def test_the_store_keeps_exactly_the_newest_records_and_forgets_emptied_tenants(
    tenants: list[str], bound: int
) -> None:
    store = MemoryAuditStore(max_records=bound)
    appended: list[tuple[str, int]] = []
    next_seq: dict[str, int] = {}
    for tenant in tenants:  # interleaved tenants, many more appends than the bound: eviction at every step
        seq = next_seq[tenant] = next_seq.get(tenant, 0) + 1
        await store.append(_record(tenant, seq))
        appended.append((tenant, seq))
        kept = appended[-bound:]
        assert [(r.tenant_id, r.sequence_number) for r in store.get_all()] == kept
        assert await store.tenants() == sorted({t for t, _ in kept})
        for t in "abc":
            last = max((s for u, s in kept if u == t), default=0)
            assert await store.get_last_sequence(t) == last


class _Alias(str):
    """A str subclass equal to (and hashing as) a tenant the store holds, whatever text it has."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("acme")


async def test_an_append_to_a_tenant_the_store_holds_is_still_checked() -> None:
    # a known tenant skips the tenant id check it passed before; the sequence number and any other tenant are checked
    store = MemoryAuditStore()
    await store.append(_record("acme", 1))
    for seq in (0, -1):
        with pytest.raises(AuditStorageError, match="must be an int from 1 to"):
            await store.append(_record("acme", seq))
    bad = _record("acme", 2)
    bad.sequence_number = True  # type: ignore[assignment]
    with pytest.raises(AuditStorageError, match="must be an int from 1 to"):
        await store.append(bad)
    for tenant in (" ", "t" * 300, "a\nb", _Alias(" ")):
        with pytest.raises(AuditStorageError, match="cannot be stored"):
            await store.append(_record(tenant, 2))
    await store.append(_record("acme", 2))
    assert await store.count("acme") == 2 and await store.tenants() == ["acme"]


async def test_records_read_back_share_nothing_with_the_store() -> None:
    # stored records without metadata or tags share one empty dict and one empty list: whatever a reader does to
    # the records it got back, from any read, reaches neither the store nor the records read later
    store = MemoryAuditStore()
    for seq in (1, 2):
        await store.append(_record("acme", seq))
    await store.append(AuditRecord("acme-3", 3, datetime.now(timezone.utc), AuditEventType.DATA_CREATED,
                                   tenant_id="acme", metadata={"k": [1]}, tags=["t"]))
    texts = [row[3] for row in await store.chain_rows("acme", 1, 3)]
    reads = [store.get_all(), await store.get_by_sequence_range("acme", 1, 3),
             await store.query(AuditQuery(tenant_id="acme"))]
    for records in reads:
        for r in records:
            r.metadata["x"] = 1
            r.metadata.setdefault("k", []).append(2)
            r.tags.append("y")
    assert [(r.metadata, r.tags) for r in store.get_all()] == [({}, []), ({}, []), ({"k": [1]}, ["t"])]
    assert all(r.verify_integrity() for r in store.get_all())
    assert [row[3] for row in await store.chain_rows("acme", 1, 3)] == texts


async def test_a_record_with_no_metadata_or_tags_at_all_is_kept_as_it_is() -> None:
    # None is not an empty dict or list: sharing the store's empty ones there would change the text the checksum
    # covers (null vs {} or [])
    store = MemoryAuditStore()
    odd = _record("acme", 1)
    odd.metadata, odd.tags = None, None  # type: ignore[assignment]
    odd.checksum = odd.compute_checksum()
    await store.append(odd)
    (kept,) = store.get_all()
    assert kept.metadata is None and kept.tags is None and kept.verify_integrity()


async def test_checkpoints_of_tenants_without_records_are_bounded() -> None:
    # review, 2026-11-29: 20,000 checkpoints of tenants with no record were all kept at max_records=10
    store = MemoryAuditStore(max_records=10)
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log(AuditEventType.DATA_CREATED)
    ledger = AuditLedger(store, SigningKey.generate())
    await ledger.checkpoint("acme")
    for i in range(2000):
        await ledger.checkpoint(f"ghost{i}")
    assert len(store._checkpoints) == 11  # acme's, and the ten newest of tenants without records
    assert await store.latest_checkpoint("acme") is not None and await store.latest_checkpoint("ghost1999")
    assert await store.latest_checkpoint("ghost0") is None


@settings(max_examples=300, deadline=None)
@given(any_records())
def test_a_row_gives_back_the_record_and_its_canonical_text(r: AuditRecord) -> None:
    # the store keeps a tuple of the record's values (enums as their values, nested values copied) and builds
    # records from it on every read; verification reads the canonical values straight from the row
    row = _memory._row(r)
    assert _memory._record(row) == r
    assert canonical_record_values(_memory._canonical_values(row)) == r.canonical_json()


async def test_nothing_read_or_logged_aliases_a_stored_record() -> None:
    store = MemoryAuditStore()
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    logged = await trail.log(AuditEventType.DATA_CREATED, metadata={"k": [1]}, old_value={"a": {"b": 1}})
    await trail.log(AuditEventType.DATA_CREATED)
    logged.metadata["k"].append(2)
    logged.old_value["a"]["b"] = 2  # type: ignore[index]
    for read in (store.get_all(), await store.get_by_sequence_range("acme", 1, 2), await trail.query(AuditQuery())):
        first = next(r for r in read if r.sequence_number == 1)
        assert (first.metadata, first.old_value) == ({"k": [1]}, {"a": {"b": 1}})
        for r in read:  # what one read hands out is the caller's: the next read does not see it
            r.metadata.setdefault("k", []).append("x")
            r.tags.append("x")
    assert [(r.metadata, r.tags) for r in store.get_all()] == [({"k": [1]}, []), ({}, [])]
    assert await trail.verify_chain() == (True, [])


async def test_a_usual_stored_record_is_not_tracked_by_the_garbage_collector() -> None:
    # the collector's full passes traversed every stored record: a row of immutable values is untracked after one
    store = MemoryAuditStore()
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    await trail.log(AuditEventType.DATA_CREATED, actor_id="alice", action="read")
    await trail.log(AuditEventType.DATA_CREATED, metadata={"k": [1]})
    gc.collect()
    usual, with_metadata = store._tenants["acme"][1], store._tenants["acme"][2]
    assert not gc.is_tracked(usual) and gc.is_tracked(with_metadata)
    assert store.get_all()[0].metadata == {} and store.get_all()[0].tags == []


_queries = st.builds(
    AuditQuery,
    start_time=st.none() | st.datetimes(timezones=st.just(timezone.utc)),
    end_time=st.none() | st.datetimes(timezones=st.just(timezone.utc)),
    tenant_id=st.none() | st.sampled_from(["", "acme", "plain"]),
    event_types=st.none() | st.lists(st.sampled_from(list(AuditEventType)), max_size=3),
    severities=st.none() | st.lists(st.sampled_from(list(AuditSeverity)), max_size=2),
    actor_id=st.none() | st.sampled_from(["", "plain", "é中🙂"]),
    success=st.none() | st.booleans(),
    search_text=st.none() | st.sampled_from(["", "p", "LAI", "null"]),
    tags=st.none() | st.lists(st.sampled_from(["", "plain", "a"]), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(any_records(), min_size=1, max_size=4), _queries)
def test_the_query_filters_and_order_read_a_row_as_its_record(records: list[AuditRecord], q: AuditQuery) -> None:
    # the memory store filters and sorts its rows; the same query over the records gives the same answer
    nq = normalized(q)
    rows = [_memory._row(r) for r in records]
    by_record, by_row = matcher(nq), matcher(nq, _memory._field)
    assert [_outcome(by_row, row) for row in rows] == [_outcome(by_record, r) for r in records]
    for order in ORDER_BY_FIELDS:
        assert ([_outcome(sort_key(order, _memory._field), row) for row in rows]
                == [_outcome(sort_key(order), r) for r in records])


def _outcome(f: Any, x: Any) -> Any:
    """``f(x)``, or the type of what it raised (a drawn record may hold a timestamp that is no datetime)."""
    try:
        return f(x)
    except Exception as exc:
        return type(exc)
