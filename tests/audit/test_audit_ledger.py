"""AuditLedger: signed checkpoints, proofs, and detection of every kind of tampering (hypothesis)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditLedger, AuditRecord, AuditTrail, SigningKey
from llmteam.audit.stores import MemoryAuditStore
from llmteam.audit.verifier import VerificationError, verify_checkpoint, verify_inclusion_bundle

KEY = SigningKey.generate()
FIELDS = [f for f in AuditRecord.__dataclass_fields__ if f not in ("tenant_id",)]


async def seeded(n: int) -> tuple[MemoryAuditStore, AuditLedger, dict[str, Any]]:
    store = MemoryAuditStore()
    t = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    await t.log_many([{"event_type": AuditEventType.DATA_CREATED, "actor_id": f"u{i}", "metadata": {"i": i}}
                      for i in range(n)])
    ledger = AuditLedger(store, KEY)
    return store, ledger, await ledger.checkpoint("acme")


def rebuild(store: MemoryAuditStore, records: list[AuditRecord]) -> None:
    store.clear()
    for r in records:
        store._insert(r)


def change(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict) or value is None:
        return {"tampered": True}
    if isinstance(value, list):
        return [*value, "t"]
    if isinstance(value, AuditEventType):
        return AuditEventType.DATA_DELETED if value is not AuditEventType.DATA_DELETED else AuditEventType.DATA_CREATED
    if hasattr(value, "tzinfo"):
        return value + timedelta(seconds=1)
    return None if value is not None else {}


async def test_checkpoint_and_inclusion_bundle_verify() -> None:
    store, ledger, cp = await seeded(37)
    verify_checkpoint(cp, KEY.public_key)
    for seq in (1, 20, 37):
        bundle = await ledger.prove_inclusion("acme", seq, cp)
        assert len(bundle["path"]) <= 6
        verify_inclusion_bundle(bundle, KEY.public_key)
    bundle["record"]["action"] = "forged"
    with pytest.raises(VerificationError):
        verify_inclusion_bundle(bundle, KEY.public_key)
    with pytest.raises(VerificationError):
        verify_checkpoint(cp, SigningKey.generate().public_key)
    assert (await ledger.verify("acme", cp)).ok
    assert (await ledger.latest_checkpoint("acme")) == cp


async def test_consistency_between_checkpoints() -> None:
    store, ledger, old = await seeded(10)
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log(AuditEventType.DATA_UPDATED)
    new = await ledger.checkpoint("acme")
    proof = await ledger.prove_consistency("acme", old["tree_size"], new["tree_size"])
    from llmteam.audit.verifier import verify_consistency

    assert verify_consistency(10, 11, bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]),
                              [bytes.fromhex(h) for h in proof["path"]])
    assert (await ledger.verify("acme", old)).ok


@settings(max_examples=120, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=12))
def test_every_tampering_is_detected(data: st.DataObject, n: int) -> None:
    async def run() -> None:
        store, ledger, cp = await seeded(n)
        records = [r.copy() for r in store.get_all()]
        kind = data.draw(st.sampled_from(["edit", "edit_rehash", "delete", "reorder", "duplicate", "truncate"]))
        i = data.draw(st.integers(0, n - 1))
        if kind in ("edit", "edit_rehash"):
            name = data.draw(st.sampled_from(FIELDS))
            setattr(records[i], name, change(getattr(records[i], name)))
            if kind == "edit_rehash" and name != "checksum":
                records[i].checksum = records[i].compute_checksum()
        elif kind == "delete":
            del records[i]
        elif kind in ("reorder", "duplicate"):
            if n < 2:
                return
            j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
            rehash = data.draw(st.booleans())
            src = records[i]
            moved = replace(src, sequence_number=records[j].sequence_number, checksum=src.checksum)
            if rehash:
                moved = replace(moved, checksum="")
            if kind == "reorder":
                other = replace(records[j], sequence_number=src.sequence_number, checksum=records[j].checksum)
                records[i], records[j] = other, moved
            else:
                records[j] = moved
        else:
            k = data.draw(st.integers(1, n))
            records = records[: n - k]
        rebuild(store, records)
        result = await ledger.verify("acme", cp)
        assert not result.ok, (kind, i)

    asyncio.run(run())


class ContractOnly:
    """An audit store that satisfies only the four-method contract (no base class, no optional capabilities)."""

    def __init__(self) -> None:
        self.inner = MemoryAuditStore()

    async def append(self, record: AuditRecord) -> None:
        await self.inner.append(record)

    async def query(self, q: Any) -> list[AuditRecord]:
        return await self.inner.query(q)

    async def get_last_sequence(self, tenant_id: str) -> int:
        return await self.inner.get_last_sequence(tenant_id)

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        return await self.inner.get_by_sequence_range(tenant_id, start, end)


async def test_a_contract_only_store_gets_the_default_capabilities() -> None:
    store = ContractOnly()
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log_many(
        [{"event_type": AuditEventType.DATA_CREATED, "actor_id": f"u{i}"} for i in range(5)])
    ledger = AuditLedger(store, KEY)
    cp = await ledger.checkpoint("acme")  # saving is the default no-op: the caller holds its checkpoints
    assert cp["tree_size"] == 5 and await ledger.latest_checkpoint("acme") is None
    verify_inclusion_bundle(await ledger.prove_inclusion("acme", 3, cp), KEY.public_key)
    assert (await ledger.verify("acme", cp)).ok


async def test_a_store_override_of_an_optional_capability_is_used() -> None:
    class Counting(MemoryAuditStore):
        leaves = 0

        async def checksums(self, tenant_id: str, start: int, end: int) -> list[tuple[int, str]]:
            self.leaves += end - start + 1
            return await super().checksums(tenant_id, start, end)

    store = Counting()
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log_many(
        [{"event_type": AuditEventType.DATA_CREATED} for _ in range(4)])
    ledger = AuditLedger(store, KEY)
    await ledger.checkpoint("acme")
    assert store.leaves == 4 and (await ledger.latest_checkpoint("acme") or {})["tree_size"] == 4
