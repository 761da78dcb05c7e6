"""PostgreSQL restarting under load: every acknowledged audit record survives and the chain verifies, every call
in flight fails with a clear llmteam error or succeeds (never hangs), and the trail recovers on its own."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from llmteam.audit import AuditEventType, AuditRecord, AuditStorageError, AuditTrail
from llmteam.audit.stores import open_audit_store

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.timeout(600)]
HANG_GUARD = 60.0  # no single call may take longer: a hang guard, not a timing assertion


async def until(predicate: Any) -> None:
    async with asyncio.timeout(HANG_GUARD * 2):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_audit_appends_survive_a_postgres_restart(postgres_server: Any) -> None:
    store = open_audit_store(postgres_server.url, table_name="resilience_audit")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    acked: list[AuditRecord] = []
    seen: Counter[str] = Counter()
    errors: list[str] = []
    stop = asyncio.Event()

    async def writer(w: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                async with asyncio.timeout(HANG_GUARD):
                    acked.append(await trail.log(AuditEventType.AGENT_STARTED, actor_id=f"w{w}", resource_id=str(i)))
                seen["ok"] += 1
            except AuditStorageError as exc:
                seen["failed"] += 1
                errors.append(str(exc))
                await asyncio.sleep(0.02)

    writers = [asyncio.create_task(writer(w)) for w in range(6)]
    try:
        await until(lambda: seen["ok"] >= 100)
        await asyncio.to_thread(postgres_server.stop, "immediate")
        await until(lambda: seen["failed"] >= 10)
        await asyncio.to_thread(postgres_server.start)
        ok_after_restart = seen["ok"]
        await until(lambda: seen["ok"] >= ok_after_restart + 100)
    finally:
        stop.set()
        await asyncio.gather(*writers)  # an unexpected error type or a hang re-raises here
    assert all("PostgreSQL" in e for e in errors), errors[:3]
    ok, invalid = await trail.verify_chain()
    assert ok and not invalid
    stored = {r.sequence_number: r.checksum for r in await store.get_by_sequence_range("acme", 1, 10**9)}
    missing = [r.sequence_number for r in acked if stored.get(r.sequence_number) != r.checksum]
    assert not missing, f"acknowledged records lost: {missing[:10]}"
    await store.close()
