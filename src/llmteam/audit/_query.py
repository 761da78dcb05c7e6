"""``AuditQuery`` and ``AuditReport`` (contract §4.3-4.4), plus the one in-memory filter every store shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.audit._record import AuditRecord, as_utc, parse_event_type, parse_severity

__all__ = ["ORDER_BY_FIELDS", "AuditQuery", "AuditReport", "Field", "matcher", "normalized", "sort_key"]

ORDER_BY_FIELDS = ("timestamp", "sequence_number")


@dataclass
class AuditQuery:
    """Filters over audit records (all optional and AND-ed), then ordering and pagination."""

    start_time: datetime | None = None
    end_time: datetime | None = None
    tenant_id: str | None = None
    event_types: list[Any] | None = None
    severities: list[Any] | None = None
    actor_id: str | None = None
    actor_type: str | None = None
    pipeline_id: str | None = None
    run_id: str | None = None
    agent_name: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    success: bool | None = None
    search_text: str | None = None
    tags: list[str] | None = None
    limit: int = 100
    offset: int = 0
    order_by: str = "timestamp"
    order_desc: bool = True


@dataclass
class AuditReport:
    """A summary of one tenant's records over a period, with the chain's verification result."""

    report_id: str
    generated_at: datetime
    generated_by: str
    period_start: datetime
    period_end: datetime
    tenant_id: str
    total_events: int
    events_by_type: dict[str, int]
    events_by_severity: dict[str, int]
    events_by_actor: dict[str, int]
    events_by_day: dict[str, int]
    security_incidents: list[AuditRecord]
    failed_operations: list[AuditRecord]
    records: list[AuditRecord] = field(default_factory=list)
    chain_valid: bool = True
    missing_sequence_numbers: list[int] = field(default_factory=list)


def _listed(value: Any, name: str, expected: str) -> list[Any] | None:
    """Filter ``name``'s ``value`` as a list (None stays None); a text or anything not iterable is a ValueError
    saying it must be ``expected`` (a text would otherwise be read as its characters)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name}={bounded_repr(value)} must be {expected}")
    return list(value)


def normalized(q: AuditQuery) -> AuditQuery:
    """A validated copy of ``q``: naive times as UTC, enums parsed; a bad order_by, limit, offset, search text or
    tags list raises ValueError naming it."""
    if q.order_by not in ORDER_BY_FIELDS:
        raise ValueError(f"order_by={q.order_by!r} is not allowed; use one of {ORDER_BY_FIELDS}")
    if not isinstance(q.limit, int) or q.limit < 0 or not isinstance(q.offset, int) or q.offset < 0:
        raise ValueError(f"limit={q.limit!r} and offset={q.offset!r} must be non-negative integers")
    if q.search_text is not None and not isinstance(q.search_text, str):
        raise ValueError(f"search_text={bounded_repr(q.search_text)} must be a str (or None: no text search)")
    tags = _listed(q.tags, "tags", "a list of str (a record with any of them matches)")
    if tags is not None and not all(isinstance(t, str) for t in tags):
        raise ValueError(f"tags={bounded_repr(q.tags)} must be a list of str (a record with any of them matches)")
    event_types = _listed(q.event_types, "event_types", "a list of event types (AuditEventType or its value)")
    severities = _listed(q.severities, "severities", "a list of severities (AuditSeverity or its value)")
    return AuditQuery(
        start_time=as_utc(q.start_time) if q.start_time is not None else None,
        end_time=as_utc(q.end_time) if q.end_time is not None else None,
        tenant_id=q.tenant_id,
        event_types=[parse_event_type(e) for e in event_types] if event_types is not None else None,
        severities=[parse_severity(s) for s in severities] if severities is not None else None,
        actor_id=q.actor_id, actor_type=q.actor_type, pipeline_id=q.pipeline_id, run_id=q.run_id,
        agent_name=q.agent_name, resource_type=q.resource_type, resource_id=q.resource_id, success=q.success,
        search_text=q.search_text, tags=tags,
        limit=q.limit, offset=q.offset, order_by=q.order_by, order_desc=bool(q.order_desc),
    )


_EQ_FIELDS = (
    "tenant_id", "actor_id", "actor_type", "pipeline_id", "run_id", "agent_name", "resource_type", "resource_id",
    "success",
)


Field = Callable[[str], Callable[[Any], Any]]
"""``field(name)``: the function reading field ``name``'s value of a record (``attrgetter``) or of a store's own form
of one (the memory store's rows: an ``itemgetter``)."""


def matcher(q: AuditQuery, field: Field = attrgetter) -> Callable[[Any], bool]:
    """The test of the normalized query ``q``'s filters: does a record (read through ``field``) pass every one?

    Built once per query, so each record is read only for the filters ``q`` sets.
    """
    equal = [(field(name), want) for name in _EQ_FIELDS if (want := getattr(q, name)) is not None]
    start, end, event_types, severities = q.start_time, q.end_time, q.event_types, q.severities
    tags = set(q.tags) if q.tags is not None else None
    needle = q.search_text.lower() if q.search_text else None
    timestamp, event_type, severity, tags_of = (field(n) for n in ("timestamp", "event_type", "severity", "tags"))
    texts = [field(n) for n in ("action", "resource_id", "error_message")]

    def passes(r: Any) -> bool:
        for value, want in equal:
            if value(r) != want:
                return False
        if start is not None or end is not None:
            ts = as_utc(timestamp(r))
            if (start is not None and ts < start) or (end is not None and ts > end):
                return False
        if event_types is not None and event_type(r) not in event_types:
            return False
        if severities is not None and severity(r) not in severities:
            return False
        if tags is not None and not tags.intersection(tags_of(r)):
            return False
        return needle is None or any(needle in str(text(r)).lower() for text in texts)

    return passes


def sort_key(order_by: str, field: Field = attrgetter) -> Callable[[Any], Any]:
    """The key function for ``order_by`` (already validated), ties broken by sequence number (``field``: as in
    :func:`matcher`)."""
    seq, tenant, timestamp = field("sequence_number"), field("tenant_id"), field("timestamp")
    if order_by == "sequence_number":
        return lambda r: (seq(r), tenant(r))
    return lambda r: (as_utc(timestamp(r)), seq(r))
