"""PostgreSQL restarting under load: every acknowledged audit record survives and the chain verifies, every call
in flight fails with a clear llmteam error or succeeds (never hangs), and the trail recovers on its own."""

from __future__ import annotations

import pytest

from llmteam.audit import AuditEventType, AuditRecord, AuditStorageError, AuditTrail
from llmteam.audit.stores import open_audit_store

from .conftest import PostgresServer, restart_under_load

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.timeout(600)]


async def test_audit_appends_survive_a_postgres_restart(postgres_server: PostgresServer) -> None:
    store = open_audit_store(postgres_server.url, table_name="resilience_audit")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    acked: list[AuditRecord] = []

    async def call(worker: int, iteration: int) -> None:
        acked.append(await trail.log(AuditEventType.AGENT_STARTED, actor_id=f"w{worker}", resource_id=str(iteration)))

    errors = await restart_under_load(postgres_server, call, expected=(AuditStorageError,), tasks=6, ok=50, failed=10)
    assert all("PostgreSQL" in str(e) for e in errors), errors[:3]
    ok, invalid = await trail.verify_chain()
    assert ok and not invalid
    stored = {r.sequence_number: r.checksum for r in await store.get_by_sequence_range("acme", 1, 10**9)}
    missing = [r.sequence_number for r in acked if stored.get(r.sequence_number) != r.checksum]
    assert not missing, f"acknowledged records lost: {missing[:10]}"
    await store.close()
