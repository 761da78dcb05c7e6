"""Audit reports built by paging through the store, so memory stays bounded at any log size."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from llmteam.audit._query import AuditQuery, AuditReport
from llmteam.audit._record import AuditRecord, as_utc, generate_audit_id

__all__ = ["MAX_LISTED", "REPORT_PAGE", "build_report", "iter_pages"]

REPORT_PAGE = 1000
MAX_LISTED = 100


async def iter_pages(store: Any, q: AuditQuery, page: int = REPORT_PAGE) -> Any:
    """Yield lists of records matching ``q`` in ascending sequence order, at most ``page`` per store call."""
    offset = 0
    while True:
        chunk = await store.query(
            AuditQuery(**{**q.__dict__, "limit": page, "offset": offset, "order_by": "sequence_number",
                          "order_desc": False})
        )
        if not chunk:
            return
        yield chunk
        if len(chunk) < page:
            return
        offset += len(chunk)


async def build_report(trail: Any, tenant: str, start: datetime, end: datetime, include_records: bool) -> AuditReport:
    """Count, classify and chain-check the tenant's records with timestamps in [start, end]."""
    start, end = as_utc(start), as_utc(end)
    by_type: Counter[str] = Counter()
    by_sev: Counter[str] = Counter()
    by_actor: Counter[str] = Counter()
    by_day: Counter[str] = Counter()
    incidents: list[AuditRecord] = []
    failed: list[AuditRecord] = []
    records: list[AuditRecord] = []
    total, lo, hi = 0, 0, 0
    async for chunk in iter_pages(trail.store, AuditQuery(tenant_id=tenant, start_time=start, end_time=end)):
        for r in chunk:
            total += 1
            lo = r.sequence_number if not lo else min(lo, r.sequence_number)
            hi = max(hi, r.sequence_number)
            by_type[r.event_type.value] += 1
            by_sev[r.severity.value] += 1
            if r.actor_id:
                by_actor[r.actor_id] += 1
            by_day[as_utc(r.timestamp).strftime("%Y-%m-%d")] += 1
            if not r.success:
                if len(failed) < MAX_LISTED:
                    failed.append(r)
                if r.event_type.value.startswith("security.") and len(incidents) < MAX_LISTED:
                    incidents.append(r)
            if include_records:
                records.append(r)
    valid, missing = await trail.verify_chain(lo, hi) if total else (True, [])
    return AuditReport(
        report_id=generate_audit_id(), generated_at=datetime.now(timezone.utc), generated_by="system",
        period_start=start, period_end=end, tenant_id=tenant, total_events=total, events_by_type=dict(by_type),
        events_by_severity=dict(by_sev), events_by_actor=dict(by_actor), events_by_day=dict(by_day),
        security_incidents=incidents, failed_operations=failed, records=records, chain_valid=valid,
        missing_sequence_numbers=missing,
    )
