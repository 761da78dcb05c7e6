"""The process-event log: :class:`EventLogBase` (the class a backend subclasses) and the stored row format.

Backends live in ``llmteam.roles.stores`` (memory, SQLite, PostgreSQL); :func:`llmteam.roles.open_event_log`
picks one for a URL.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any, Protocol, runtime_checkable

from llmteam._files import atomic_text_writer
from llmteam._repr import bounded_repr
from llmteam.backends.resource import AsyncClosing
from llmteam.backends.text import sql_text_problem
from llmteam.roles._errors import EventLogError
from llmteam.roles._mining import ProcessMiningEngine
from llmteam.roles._models import ProcessEvent
from llmteam.roles._xes import XESChunks

DEFAULT_TABLE = "process_events"
DEFAULT_PAGE_SIZE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Stored row: (tenant_id, case_id, event_id, ts_us, timestamp_text, activity, resource, lifecycle, duration_ms,
# cost, attributes_json). Every backend stores exactly this, so all behave alike.
Row = tuple[str, str, str, int, str, str, str, str, int, float, str]
Cursor = tuple[str, str, int, int]  # (tenant_id, case_id, ts_us, seq): the keyset for paging


@dataclass(frozen=True)
class EventFilter:
    """Which events to read: ``None`` means any tenant / any case."""

    tenant_id: str | None = None
    case_id: str | None = None


def _text(value: Any, field: str) -> str:
    text = value if isinstance(value, str) else str(value)
    problem = sql_text_problem(text)
    if problem is not None:
        raise EventLogError(f"event {field} {text[:80]!r} {problem}; fix it before logging")
    return text


def timestamp_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch (naive times are local time), the log's sort key."""
    delta = ts.astimezone(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def to_row(event: ProcessEvent, tenant_id: str) -> Row:
    """Validate and serialise ``event`` for storage; raises EventLogError naming the bad field.

    Every backend stores what this returns and calls it for a whole batch before writing anything, so a value
    that JSON or SQL cannot hold (a NaN or infinite cost or attribute, a duration beyond 64 bits, a time out of
    range in UTC) gets the same error on every backend, and the batch leaves nothing behind.
    """
    if not isinstance(event, ProcessEvent):
        raise EventLogError(f"{bounded_repr(event)} is not a ProcessEvent; log ProcessEvent instances")
    if not isinstance(event.timestamp, datetime):
        raise EventLogError(f"event {bounded_repr(event.event_id)} has timestamp {bounded_repr(event.timestamp)}; "
                            "use a datetime")
    try:
        duration = int(event.duration_ms)
        cost = float(event.cost)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EventLogError(
            f"event {bounded_repr(event.event_id)} cannot be stored: duration_ms or cost: {exc}") from None
    if not -(2**63) <= duration < 2**63:
        raise EventLogError(
            f"event {bounded_repr(event.event_id)} duration_ms={bounded_repr(duration)} does not fit in 64 bits")
    if not math.isfinite(cost):
        raise EventLogError(f"event {bounded_repr(event.event_id)} has cost={cost!r}; the log stores finite costs only")
    try:
        ts_us = timestamp_us(event.timestamp)
    except (OverflowError, ValueError, OSError):
        raise EventLogError(
            f"event {bounded_repr(event.event_id)} timestamp {bounded_repr(event.timestamp.isoformat())} is out of "
            "range in UTC; use a time between years 1 and 9999 in UTC") from None
    return (
        _text(tenant_id, "tenant_id"), _text(event.case_id, "case_id"), _text(event.event_id, "event_id"),
        ts_us, event.timestamp.isoformat(), _text(event.activity, "activity"),
        _text(event.resource, "resource"), _text(event.lifecycle, "lifecycle"), duration, cost,
        _attributes_json(event.attributes, event.event_id),
    )


def _attributes_json(attributes: Any, event_id: Any) -> str:
    """The attributes as JSON (values JSON has no type for as their ``str()``); NaN and infinities refused."""
    try:
        return json.dumps(attributes, default=str, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        where = "attributes"
        if isinstance(attributes, dict):
            for key, value in attributes.items():
                try:
                    json.dumps(value, default=str, allow_nan=False)
                except (TypeError, ValueError, RecursionError):
                    where = f"attribute {bounded_repr(key)}"
                    break
        raise EventLogError(
            f"event {bounded_repr(event_id)} {where} cannot be stored as JSON ({bounded_repr(str(exc))}); use finite "
            "numbers, strings, lists and dicts with string keys") from None


def from_row(row: Row | tuple[Any, ...]) -> ProcessEvent:
    """The ProcessEvent stored in ``row``."""
    _, case_id, event_id, _, ts, activity, resource, lifecycle, duration, cost, attributes = row[:11]
    return ProcessEvent(
        event_id, datetime.fromisoformat(ts), activity, resource, case_id, lifecycle, int(duration), float(cost),
        json.loads(attributes),
    )


@runtime_checkable
class ProcessEventLog(Protocol):
    """A durable, append-only process-event log, per tenant, read back in case order."""

    async def append_many(self, events: Iterable[ProcessEvent], *, tenant_id: str = "") -> int:
        """Store ``events`` in one transaction (all or nothing) and return how many were stored."""
        ...

    async def fetch_page(self, where: EventFilter, after: Cursor | None, limit: int) -> list[tuple[Cursor, Row]]:
        """Up to ``limit`` rows matching ``where`` ordered by (tenant, case, time, seq), after ``after``."""
        ...

    async def count(self, *, tenant_id: str | None = None, case_id: str | None = None) -> int:
        """How many events match the filters."""
        ...

    async def close(self) -> None:
        """Release connections (a pool passed in by the caller is left open)."""
        ...


class EventLogBase(AsyncClosing):
    """Reading, grouping, loading and export on top of a backend's ``fetch_page`` and ``append_many``."""

    async def append_many(self, events: Iterable[ProcessEvent], *, tenant_id: str = "") -> int:
        raise NotImplementedError  # pragma: no cover

    async def fetch_page(self, where: EventFilter, after: Cursor | None, limit: int) -> list[tuple[Cursor, Row]]:
        raise NotImplementedError  # pragma: no cover

    async def close(self) -> None:
        """Release resources; idempotent."""

    async def append(self, event: ProcessEvent, *, tenant_id: str = "") -> None:
        """Store one event durably."""
        await self.append_many([event], tenant_id=tenant_id)

    async def iterate(
        self, *, tenant_id: str | None = None, case_id: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[ProcessEvent]:
        """Every matching event, ordered by tenant, case and time, read ``page_size`` rows at a time."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size={page_size!r} must be an int >= 1")
        where = EventFilter(tenant_id, case_id)
        after: Cursor | None = None
        while True:
            page = await self.fetch_page(where, after, page_size)
            for _, row in page:
                yield from_row(row)
            if len(page) < page_size:
                return
            after = page[-1][0]

    async def iterate_cases(
        self, *, tenant_id: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[tuple[str, list[ProcessEvent]]]:
        """``(case_id, events sorted by time)`` one case at a time (memory bounded by the largest case)."""
        key: tuple[str, str] | None = None
        events: list[ProcessEvent] = []
        where = EventFilter(tenant_id, None)
        after: Cursor | None = None
        while True:
            page = await self.fetch_page(where, after, page_size)
            for cursor, row in page:
                if (cursor[0], cursor[1]) != key:
                    if key is not None:
                        yield key[1], events
                    key, events = (cursor[0], cursor[1]), []
                events.append(from_row(row))
            if len(page) < page_size:
                break
            after = page[-1][0]
        if key is not None:
            yield key[1], events

    async def load_into(
        self, engine: ProcessMiningEngine, *, tenant_id: str | None = None, case_id: str | None = None
    ) -> int:
        """Record matching events into ``engine``; returns how many were loaded."""
        n = 0
        async for event in self.iterate(tenant_id=tenant_id, case_id=case_id):
            engine.record_event(event)
            n += 1
        return n

    async def write_xes(
        self, target: str | os.PathLike[str] | IO[str], *, standard: bool = True, tenant_id: str | None = None
    ) -> int:
        """Stream the log as XES to a path (replaced atomically) or text file; returns events written."""
        chunks = XESChunks(standard)
        written = 0

        async def emit(out: IO[str]) -> None:
            nonlocal written
            out.write(chunks.preamble)
            async for case_id, events in self.iterate_cases(tenant_id=tenant_id):
                out.write(chunks.trace(case_id, events))
                written += len(events)
            out.write(chunks.footer)

        if isinstance(target, (str, os.PathLike)):
            with atomic_text_writer(target) as fh:  # a random O_EXCL temp name: never through a planted symlink
                await emit(fh)
        else:
            await emit(target)
        return written


def rows_of(events: Iterable[ProcessEvent], tenant_id: str) -> list[Row]:
    """Validated rows for ``events`` (all or nothing); one event alone is refused with a hint."""
    if isinstance(events, ProcessEvent):
        raise EventLogError("append_many takes an iterable of events; use append(event) for one")
    return [to_row(e, tenant_id) for e in events]
