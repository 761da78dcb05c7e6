"""Reports cover every record in the period, paging through the store (bounded memory)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from llmteam.audit import AuditEventType, AuditQuery, AuditTrail
from llmteam.audit._report import REPORT_PAGE
from llmteam.audit.stores import MemoryAuditStore


class CountingStore(MemoryAuditStore):
    def __init__(self) -> None:
        super().__init__(max_records=10_000)
        self.max_limit = 0

    async def query(self, q: AuditQuery) -> list[Any]:
        self.max_limit = max(self.max_limit, q.limit)
        return await super().query(q)


async def test_report_pages_and_counts() -> None:
    store = CountingStore()
    t = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    n = 2 * REPORT_PAGE + 17
    await t.log_many([{"event_type": AuditEventType.DATA_CREATED, "actor_id": "a"}] * (n - 3))
    await t.log(AuditEventType.ACCESS_DENIED, success=False, actor_id="b")
    await t.log(AuditEventType.DATA_DELETED, success=False)
    await t.log(AuditEventType.DATA_UPDATED)
    now = datetime.now(timezone.utc)
    rep = await t.generate_report(now - timedelta(hours=1), (now + timedelta(hours=1)).replace(tzinfo=None))
    assert store.max_limit == REPORT_PAGE
    assert rep.total_events == n and rep.chain_valid and rep.missing_sequence_numbers == []
    assert rep.events_by_type["data.created"] == n - 3 and rep.events_by_actor == {"a": n - 3, "b": 1}
    assert [r.event_type for r in rep.security_incidents] == [AuditEventType.ACCESS_DENIED]
    assert len(rep.failed_operations) == 2 and rep.records == [] and rep.generated_by == "system"
    assert list(rep.events_by_day) == [now.strftime("%Y-%m-%d")]
    full = await t.generate_report(now - timedelta(hours=1), now + timedelta(hours=1), include_records=True)
    assert len(full.records) == n
    empty = await t.generate_report(now - timedelta(days=3), now - timedelta(days=2))
    assert empty.total_events == 0 and empty.chain_valid
