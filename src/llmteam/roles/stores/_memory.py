"""In-process event log (``memory://``): tests and demos, optionally bounded."""

from __future__ import annotations

from collections.abc import Iterable

from llmteam.roles._event_log import Cursor, EventFilter, EventLogBase, Row, rows_of
from llmteam.roles._models import ProcessEvent


def _matches(row: Row, where: EventFilter) -> bool:
    return (where.tenant_id is None or row[0] == where.tenant_id) and (
        where.case_id is None or row[1] == where.case_id
    )


class MemoryEventLog(EventLogBase):
    """An in-process log (tests, demos); ``max_events`` bounds it by dropping the oldest events."""

    def __init__(self, max_events: int | None = None) -> None:
        if max_events is not None and (isinstance(max_events, bool) or not isinstance(max_events, int)
                                       or max_events < 1):
            raise ValueError(f"max_events={max_events!r} must be None or an int >= 1")
        self.max_events = max_events
        self._rows: dict[int, Row] = {}
        self._seq = 0

    async def append_many(self, events: Iterable[ProcessEvent], *, tenant_id: str = "") -> int:
        """Store ``events`` (validated first: all or nothing)."""
        rows = rows_of(events, tenant_id)
        for row in rows:
            self._seq += 1
            self._rows[self._seq] = row
        if self.max_events is not None:
            while len(self._rows) > self.max_events:
                del self._rows[next(iter(self._rows))]
        return len(rows)

    async def fetch_page(self, where: EventFilter, after: Cursor | None, limit: int) -> list[tuple[Cursor, Row]]:
        """A page in (tenant, case, time, seq) order."""
        keyed = [((r[0], r[1], r[3], seq), r) for seq, r in self._rows.items() if _matches(r, where)]
        if after is not None:
            keyed = [kr for kr in keyed if kr[0] > after]
        keyed.sort(key=lambda kr: kr[0])
        return keyed[:limit]

    async def count(self, *, tenant_id: str | None = None, case_id: str | None = None) -> int:
        """How many events match."""
        where = EventFilter(tenant_id, case_id)
        return sum(1 for r in self._rows.values() if _matches(r, where))
