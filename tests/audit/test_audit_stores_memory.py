"""MemoryAuditStore's bound: the oldest records go first, across tenants; a tenant left without records is forgotten."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord, AuditStorageError
from llmteam.audit.stores import MemoryAuditStore


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
        with pytest.raises(AuditStorageError, match="must be an int >= 1"):
            await store.append(_record("acme", seq))
    bad = _record("acme", 2)
    bad.sequence_number = True  # type: ignore[assignment]
    with pytest.raises(AuditStorageError, match="must be an int >= 1"):
        await store.append(bad)
    for tenant in (" ", "t" * 300, "a\nb", _Alias(" ")):
        with pytest.raises(AuditStorageError, match="cannot be stored"):
            await store.append(_record(tenant, 2))
    await store.append(_record("acme", 2))
    assert await store.count("acme") == 2 and await store.tenants() == ["acme"]
