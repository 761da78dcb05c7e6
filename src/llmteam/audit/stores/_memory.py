"""In-memory audit store: per-process, bounded (oldest records evicted beyond ``max_records``).

A tenant whose every record has been evicted is forgotten entirely (its head and checkpoints too), so the
per-tenant state is bounded by ``max_records`` as well.

A stored record is a plain tuple of its field values (:func:`_row`), never a record object: no record handed in or
out shares a container with it (nested dicts, lists, tuples and sets are copied both ways, as
:func:`~llmteam.audit._record.deep_copy` copies them; other objects are kept as given, as before), every read builds
new records from it (:func:`_record`), and a tuple of immutable values is one object the garbage collector stops
tracking after its first pass, so its full collections no longer traverse every stored record (they took about 5 %
of a ``log()`` call, and the store's copy of each record about 7 %). In a row an event type and a severity are
their values, an empty metadata dict is a marker (not a dict) and empty tags the empty tuple; read back, a row
gives the members and empty tags as ``[]``, as the SQL stores do (a value no member has stays as it is).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from operator import itemgetter
from typing import Any

from llmteam._isotime import iso_text
from llmteam.audit._enums import AuditEventType, AuditSeverity
from llmteam.audit._errors import AuditStorageError
from llmteam.audit._query import AuditQuery, matcher, normalized, sort_key
from llmteam.audit._record import AuditRecord, deep_copy, enum_value
from llmteam.audit._store import AuditStoreBase, ChainRow, check_storable
from llmteam.audit.verifier import canonical_record_values

__all__ = ["MemoryAuditStore"]

_Row = tuple[Any, ...]  # a stored record: its field values in AuditRecord's field order (see _row)
_FIELDS = tuple(f.name for f in dataclasses.fields(AuditRecord))
_SEQ, _TENANT, _CHECKSUM, _PREVIOUS = (_FIELDS.index(n) for n in ("sequence_number", "tenant_id", "checksum",
                                                                   "previous_checksum"))
# A row's empty metadata and empty tags: what a tuple holds must not be a GC container (a dict, empty or not, counts
# as one) for the collector to untrack the tuple
_NO_METADATA: Any = object()
_NO_TAGS = ()
_EMPTY_DICT: dict[str, Any] = {}  # what _NO_METADATA stands for in a row's canonical values (never handed out)
_EVENT_TYPES: dict[Any, Any] = {member.value: member for member in AuditEventType}  # a value -> its member
_SEVERITIES: dict[Any, Any] = {member.value: member for member in AuditSeverity}
_iso = iso_text()


def _row(r: AuditRecord) -> _Row:
    """The row kept for ``r``: its values, the enums as their values and the nested ones copied."""
    old, new, metadata, tags = r.old_value, r.new_value, r.metadata, r.tags
    return (
        r.record_id, r.sequence_number, r.timestamp, enum_value(r.event_type), enum_value(r.severity), r.tenant_id,
        r.pipeline_id, r.run_id, r.agent_name, r.step_name, r.actor_type, r.actor_id, r.actor_ip, r.actor_user_agent,
        r.action, r.resource_type, r.resource_id, None if old is None else deep_copy(old),
        None if new is None else deep_copy(new), r.success, r.error_message,
        _NO_METADATA if type(metadata) is dict and not metadata else deep_copy(metadata),
        _NO_TAGS if type(tags) is list and not tags else deep_copy(tags), r.checksum, r.previous_checksum,
    )


def _record(row: _Row) -> AuditRecord:
    """A new record of the caller's own with the values kept as ``row``."""
    (record_id, seq, ts, event_type, severity, tenant, pipeline, run, agent, step, actor_type, actor_id, actor_ip,
     user_agent, action, resource_type, resource_id, old, new, success, error, metadata, tags, checksum,
     previous) = row
    record = AuditRecord(
        record_id, seq, ts, _member(_EVENT_TYPES, event_type), _member(_SEVERITIES, severity), tenant, pipeline, run,
        agent, step, actor_type, actor_id, actor_ip, user_agent, action, resource_type, resource_id, deep_copy(old),
        deep_copy(new), success, error, {} if metadata is _NO_METADATA else deep_copy(metadata),
        [] if tags is _NO_TAGS else deep_copy(tags), checksum or "unset", previous,
    )
    if not checksum:
        record.checksum = checksum  # kept as it is, even when empty (the constructor would compute one)
    return record


def _member(members: dict[Any, Any], value: Any) -> Any:
    """The enum member a row's value stands for (a value that is no member's, or not a str, as it is)."""
    return members.get(value, value) if type(value) is str else value


def _field(name: str) -> Callable[[_Row], Any]:
    """Field ``name``'s value in a row as the record read from it holds it (for the query filters and sort keys)."""
    at = _FIELDS.index(name)
    members = {"event_type": _EVENT_TYPES, "severity": _SEVERITIES}.get(name)
    return itemgetter(at) if members is None else lambda row: _member(members, row[at])


def _canonical_values(row: _Row) -> tuple[Any, ...]:
    """What ``_record(row)._canonical_values()`` gives (tests/audit/test_audit_stores_memory.py compares them), read
    from the row: its values in :data:`RECORD_FIELDS` order, the timestamp as its ISO text."""
    (record_id, seq, ts, event_type, severity, tenant, pipeline, run, agent, step, actor_type, actor_id, actor_ip,
     user_agent, action, resource_type, resource_id, old, new, success, error, metadata, tags, _, previous) = row
    return (
        action, actor_id, actor_ip, actor_type, user_agent, agent, error, event_type,
        _EMPTY_DICT if metadata is _NO_METADATA else metadata, new, old, pipeline, previous, record_id, resource_id,
        resource_type, run, seq, severity, step, success, tags, tenant, _iso(ts) if isinstance(ts, datetime) else ts,
    )


class MemoryAuditStore(AuditStoreBase):
    """Keeps copies of records in memory; safe under many asyncio tasks (every method is atomic on the loop)."""

    atomic_batches = True

    DEFAULT_MAX_RECORDS = 100_000

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        if not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records={max_records!r} must be a positive integer")
        self.max_records = max_records
        # the stored rows in insertion order (the oldest is evicted first); a row holds its own tenant and sequence,
        # so no key is kept per record
        self._order: deque[_Row] = deque()
        self._tenants: dict[str, dict[int, _Row]] = {}
        self._last: dict[str, tuple[int, str]] = {}
        self._checkpoints: dict[str, list[dict[str, Any]]] = {}

    def _check_new(self, records: Iterable[AuditRecord]) -> None:
        seen: set[tuple[str, int]] = set()
        for r in records:
            check_storable(r)
            key = (r.tenant_id, r.sequence_number)
            if key[1] in self._tenants.get(key[0], ()) or key in seen:
                raise AuditStorageError(
                    f"duplicate audit record: tenant {r.tenant_id!r} already has sequence {r.sequence_number}"
                )
            seen.add(key)

    def _insert(self, record: AuditRecord) -> None:
        row = _row(record)
        tenant, seq = row[_TENANT], row[_SEQ]
        self._order.append(row)
        chain = self._tenants.get(tenant)
        if chain is None:
            chain = self._tenants[tenant] = {}
        chain[seq] = row
        last = self._last.get(tenant)
        if last is None or seq > last[0]:
            self._last[tenant] = (seq, row[_CHECKSUM])
        if len(self._order) > self.max_records:
            self._evict()

    def _evict(self) -> None:
        """Drop the oldest records beyond ``max_records``, and a tenant's state with its last record."""
        while len(self._order) > self.max_records:
            oldest = self._order.popleft()
            tenant = oldest[_TENANT]
            chain = self._tenants[tenant]
            del chain[oldest[_SEQ]]
            if not chain:
                del self._tenants[tenant]
                self._last.pop(tenant, None)
                self._checkpoints.pop(tenant, None)

    async def append(self, record: AuditRecord) -> None:
        """Store a copy of ``record``; a duplicate ``(tenant_id, sequence_number)`` raises AuditStorageError."""
        check_storable(record, self._tenants)  # a tenant the store holds records of passed the check already
        if record.sequence_number in self._tenants.get(record.tenant_id, ()):
            self._check_new((record,))  # raises, naming the duplicate
        self._insert(record)

    async def append_many(self, records: list[AuditRecord]) -> None:
        """Store copies of all ``records`` or, on any duplicate, none of them."""
        self._check_new(records)
        for r in records:
            self._insert(r)

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        """Matching records, ordered and paginated, as copies."""
        nq = normalized(q)
        pool: Iterable[_Row]
        pool = self._tenants.get(nq.tenant_id, {}).values() if nq.tenant_id is not None else self._order
        passes = matcher(nq, _field)
        found = [row for row in pool if passes(row)]
        found.sort(key=sort_key(nq.order_by, _field), reverse=nq.order_desc)
        return [_record(row) for row in found[nq.offset : nq.offset + nq.limit]]

    async def get_last_sequence(self, tenant_id: str) -> int:
        """The tenant's highest sequence number (0 if none)."""
        return self._last.get(tenant_id, (0, ""))[0]

    async def get_head(self, tenant_id: str) -> tuple[int, str]:
        """``(last sequence, its checksum)``; ``(0, "")`` for an empty chain."""
        return self._last.get(tenant_id, (0, ""))

    def _range(self, tenant_id: str, start: int, end: int) -> list[_Row]:
        chain = self._tenants.get(tenant_id, {})
        if end - start + 1 <= len(chain):
            return [chain[s] for s in range(max(start, 1), end + 1) if s in chain]
        return sorted((row for s, row in chain.items() if start <= s <= end), key=itemgetter(_SEQ))

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        """The tenant's records with start <= sequence <= end, ascending, as copies."""
        return [_record(row) for row in self._range(tenant_id, start, end)]

    async def chain_rows(self, tenant_id: str, start: int, end: int) -> list[ChainRow]:
        """``(sequence, checksum, previous_checksum, canonical text)`` for verification, read from the rows."""
        return [
            (row[_SEQ], row[_CHECKSUM], row[_PREVIOUS], canonical_record_values(_canonical_values(row)), "")
            for row in self._range(tenant_id, start, end)
        ]

    async def checksums(self, tenant_id: str, start: int, end: int) -> list[tuple[int, str]]:
        """``(sequence, checksum)`` pairs in the range, ascending (the Merkle leaves)."""
        return [(row[_SEQ], row[_CHECKSUM]) for row in self._range(tenant_id, start, end)]

    async def tenants(self) -> list[str]:
        """Every tenant with at least one record."""
        return sorted(t for t, recs in self._tenants.items() if recs)

    async def count(self, tenant_id: str | None = None) -> int:
        """Number of records held, for one tenant or all."""
        if tenant_id is None:
            return len(self._order)
        return len(self._tenants.get(tenant_id, {}))

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint (bounded: the last 1000 per tenant; checkpoints of at most ``max_records``
        tenants without records, the oldest such tenant's dropped first)."""
        tenant = str(checkpoint["tenant_id"])
        history = self._checkpoints.setdefault(tenant, [])
        history.append(deep_copy(checkpoint))
        del history[:-1000]
        if tenant not in self._tenants and len(self._checkpoints) > len(self._tenants) + self.max_records:
            oldest = next(t for t in self._checkpoints if t not in self._tenants)  # insertion order: the oldest
            del self._checkpoints[oldest]

    async def checkpoint_tenants(self) -> list[str]:
        """Every tenant with a kept checkpoint, sorted."""
        return sorted(self._checkpoints)

    async def latest_checkpoint(self, tenant_id: str) -> dict[str, Any] | None:
        """The most recently saved checkpoint for ``tenant_id``, or None."""
        history = self._checkpoints.get(tenant_id)
        return deep_copy(history[-1]) if history else None

    def clear(self) -> None:
        """Drop every record and checkpoint."""
        self._order.clear()
        self._tenants.clear()
        self._last.clear()
        self._checkpoints.clear()

    def get_all(self) -> list[AuditRecord]:
        """Copies of every record, oldest first."""
        return [_record(row) for row in self._order]

    async def close(self) -> None:
        """Nothing to release; present so every store can be closed the same way."""
