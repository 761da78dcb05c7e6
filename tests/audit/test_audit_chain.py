"""Chain verification over a store, page by page, against the obvious record-by-record check of the same chain."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord, AuditTrail, _chain
from llmteam.audit._chain import ChainResult, verify_chain_range
from llmteam.audit.stores import MemoryAuditStore

TENANT = "acme"


async def _records(n: int) -> list[AuditRecord]:
    source = MemoryAuditStore()
    trail = AuditTrail(source, tenant_id=TENANT, use_context_tenant=False)
    for i in range(n):
        await trail.log(AuditEventType.DATA_CREATED, actor_id="alice", action=f"read {i}", metadata={"i": i})
    return await source.get_by_sequence_range(TENANT, 1, n)


def _tampered(rec: AuditRecord, how: str) -> AuditRecord:
    if how == "field":  # a field changed, the checksum left as it was
        return replace(rec, action=rec.action + "!")
    if how == "resealed":  # a field changed and the record sealed again: the next record's link no longer holds
        return replace(rec, action=rec.action + "!", checksum="")
    return replace(rec, previous_checksum="0" * 64, checksum="")  # relinked elsewhere, sealed again


def _reference(by_seq: dict[int, AuditRecord], start: int, end: int) -> tuple[int, list[int], int | None]:
    """(checked, missing, first broken) walking the sequences one by one."""
    start = max(1, start)
    before = by_seq.get(start - 1)
    prev: str | None = "" if start == 1 else (before.checksum if before else None)
    checked, missing, broken = 0, [], None
    for seq in range(start, end + 1):
        rec = by_seq.get(seq)
        if rec is None:
            missing.append(seq)
            prev = None
            continue
        checked += 1
        if broken is None and (not rec.verify_integrity() or (prev is not None and rec.previous_checksum != prev)):
            broken = seq
        prev = rec.checksum
    return checked, missing, broken


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 14),
    dropped=st.sets(st.integers(1, 14), max_size=4),
    tampered=st.dictionaries(st.integers(1, 14), st.sampled_from(["field", "resealed", "relinked"]), max_size=3),
    bounds=st.tuples(st.integers(-1, 16), st.integers(-1, 16)),
    page=st.integers(1, 5),
)
def test_verification_finds_what_a_record_by_record_walk_finds(
    n: int, dropped: set[int], tampered: dict[int, str], bounds: tuple[int, int], page: int
) -> None:
    async def run() -> tuple[ChainResult, tuple[int, list[int], int | None]]:
        store = MemoryAuditStore()
        by_seq = {}
        for rec in await _records(n):
            seq = rec.sequence_number
            if seq in dropped:
                continue
            by_seq[seq] = _tampered(rec, tampered[seq]) if seq in tampered else rec
            await store.append(by_seq[seq])
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_chain, "PAGE_SIZE", page)  # many pages, a gap or a broken record on any page boundary
            result = await verify_chain_range(store, TENANT, *bounds)
        return result, _reference(by_seq, *bounds)

    result, (checked, missing, broken) = asyncio.run(run())
    assert (result.checked, result.missing, result.first_broken) == (checked, missing, broken)
    assert result.valid == (not missing and broken is None)
    assert bool(result.reason) == (broken is not None)


async def test_a_broken_record_is_named_with_why() -> None:
    records = await _records(4)
    store = MemoryAuditStore()
    for rec in records[:2] + [_tampered(records[2], "field"), records[3]]:
        await store.append(rec)
    result = await verify_chain_range(store, TENANT, 1, 4)
    assert (result.first_broken, result.reason, result.checked) == (3, "checksum does not match the record's fields", 4)
    store = MemoryAuditStore()
    for rec in records[:1] + [_tampered(records[1], "resealed")] + records[2:]:
        await store.append(rec)
    result = await verify_chain_range(store, TENANT, 1, 4)
    assert (result.first_broken, result.reason) == (3, "previous_checksum does not match the predecessor")
