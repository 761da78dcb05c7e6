"""What the SQLite and PostgreSQL audit stores share: the column layout, row codecs and the query builder.

Nested fields are stored as their canonical JSON text and the timestamp as its exact ISO text, so a row
round-trips to the same checksum and verification can rebuild the canonical form without decoding JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any

from llmteam.audit._checksum import nested_json
from llmteam.audit._errors import AuditStorageError
from llmteam.audit._query import AuditQuery
from llmteam.audit._record import AuditRecord, as_utc, enum_value, parse_event_type, parse_severity
from llmteam.audit._store import AuditStoreBase, ChainRow, check_storable

__all__ = [
    "COLUMNS", "SQLITE_IN_CHAIN", "Dialect", "build_query", "row_to_chain", "row_to_record", "sealed_rows", "to_row",
    "ts_us",
]

# Endings of the names both SQL stores derive from the table name (indexes, triggers, the checkpoint table).
DERIVED_SUFFIXES = (
    "_checkpoints_tenant", "_checkpoints_append_only", "_checkpoints_no_delete", "_refuse_change", "_append_only",
    "_tenant_seq", "_no_update", "_seq_positive",
)
# Rows the chain covers: sequence numbers start at 1. The schema refuses others (CHECK, and for tables created
# before schema v2 a trigger / NOT VALID constraint), and every read filters on it too, so a row that got in
# anyway (a database edited by hand) is never served as a record; ``outside_chain`` counts such rows.
IN_CHAIN = "sequence_number >= 1"
# SQLite stores any value in any column: a row whose sequence number is not an integer (5.5 sorts between 5 and 6,
# 'zz' above every number) or whose tenant id is not text (a BLOB never equals the text) is outside the chain too.
SQLITE_IN_CHAIN = f"typeof(sequence_number) = 'integer' AND typeof(tenant_id) = 'text' AND {IN_CHAIN}"

COLUMNS = (
    "tenant_id", "sequence_number", "record_id", "timestamp", "ts_us", "event_type", "severity", "pipeline_id",
    "run_id", "agent_name", "step_name", "actor_type", "actor_id", "actor_ip", "actor_user_agent", "action",
    "resource_type", "resource_id", "old_value", "new_value", "success", "error_message", "metadata", "tags",
    "checksum", "previous_checksum",
)
_TEXT_FIELDS = (
    "tenant_id", "record_id", "pipeline_id", "run_id", "agent_name", "step_name", "actor_type", "actor_id",
    "actor_ip", "actor_user_agent", "action", "resource_type", "resource_id", "error_message", "checksum",
    "previous_checksum",
)
_text_values = attrgetter(*_TEXT_FIELDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def ts_us(value: datetime) -> int:
    """Microseconds since the epoch (UTC; naive values count as UTC), the indexed sort/filter column."""
    return (as_utc(value) - _EPOCH) // _US


def to_row(r: AuditRecord) -> tuple[Any, ...]:
    """The column values for ``r``; a field of the wrong type raises AuditStorageError before anything is written."""
    texts = _text_values(r)
    try:
        "".join(texts)  # one C pass: raises TypeError unless every field is a str (a subclass is fine too)
    except TypeError:
        for name, value in zip(_TEXT_FIELDS, texts, strict=True):
            if not isinstance(value, str):
                raise AuditStorageError(f"audit field {name}={value!r} must be a str to be stored") from None
        raise  # pragma: no cover - join only fails on a non-str item
    check_storable(r)
    if type(r.success) is not bool:
        raise AuditStorageError(f"success={r.success!r} must be a bool")
    try:
        ts, micros = r.timestamp.isoformat(), ts_us(r.timestamp)
        return (
            r.tenant_id, r.sequence_number, r.record_id, ts, micros, enum_value(parse_event_type(r.event_type)),
            enum_value(parse_severity(r.severity)), r.pipeline_id, r.run_id, r.agent_name, r.step_name, r.actor_type,
            r.actor_id, r.actor_ip, r.actor_user_agent, r.action, r.resource_type, r.resource_id,
            nested_json(r.old_value), nested_json(r.new_value), r.success, r.error_message,
            nested_json(r.metadata), nested_json(r.tags), r.checksum, r.previous_checksum,
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise AuditStorageError(f"audit record {r.record_id!r} cannot be stored: {exc}") from exc


def sealed_rows(records: list[AuditRecord], sealed: list[tuple[str, ...] | None]) -> list[tuple[Any, ...]]:
    """The column values of records the trail has just sealed (``sealed[i]``: what ``seal`` returned for each).

    Sealed texts mean the canonical template wrote the record, and it writes only records whose text fields are
    all str, whose sequence number is an int and whose success is a bool: of :func:`to_row`'s checks, a sequence
    number >= 1 and a valid tenant id are left (the tenant once per batch). ``ts_us`` is :func:`ts_us`'s, as in
    :func:`to_row`. A record without sealed texts goes through :func:`to_row`.
    """
    checked: set[str] = set()
    rows = []
    ts: Any = None  # the records of one batch share one timestamp (AuditTrail._link): its ts_us() is computed once
    micros = 0
    for r, texts in zip(records, sealed, strict=True):
        check_storable(r, checked)
        if type(r.tenant_id) is str:
            checked.add(r.tenant_id)
        if texts is None:
            rows.append(to_row(r))
            continue
        if r.timestamp is not ts:
            ts = r.timestamp
            micros = ts_us(ts)
        iso, event_type, severity, old, new, metadata, tags = texts
        rows.append((
            r.tenant_id, r.sequence_number, r.record_id, iso, micros, event_type, severity,
            r.pipeline_id, r.run_id, r.agent_name, r.step_name, r.actor_type, r.actor_id, r.actor_ip,
            r.actor_user_agent, r.action, r.resource_type, r.resource_id, old, new, r.success, r.error_message,
            metadata, tags, r.checksum, r.previous_checksum,
        ))
    return rows


def row_to_record(row: Sequence[Any]) -> AuditRecord:
    """Rebuild a record from a row in :data:`COLUMNS` order (its checksum kept as stored)."""
    return AuditRecord(
        record_id=row[2], sequence_number=row[1], timestamp=datetime.fromisoformat(row[3]),
        event_type=parse_event_type(row[5]), severity=parse_severity(row[6]), tenant_id=row[0],
        pipeline_id=row[7], run_id=row[8], agent_name=row[9], step_name=row[10], actor_type=row[11],
        actor_id=row[12], actor_ip=row[13], actor_user_agent=row[14], action=row[15], resource_type=row[16],
        resource_id=row[17], old_value=json.loads(row[18]), new_value=json.loads(row[19]), success=bool(row[20]),
        error_message=row[21], metadata=json.loads(row[22]), tags=json.loads(row[23]), checksum=row[24],
        previous_checksum=row[25],
    )


def row_to_chain(row: Sequence[Any]) -> ChainRow:
    """A verification row from a row in :data:`COLUMNS` order.

    The canonical text is rebuilt from the record exactly as it was hashed. The stored ``ts_us`` column (which
    time queries filter on) must equal the timestamp's microseconds, and every field must decode: otherwise the
    canonical text is None and verification reports the row as broken.
    """
    try:
        record = row_to_record(row)
        consistent = row[4] == ts_us(record.timestamp)
    except (TypeError, ValueError) as exc:  # an edited row: bad JSON, timestamp or enum value
        return (int(row[1]), str(row[24]), str(row[25]), None, f"the stored row cannot be decoded ({exc})")
    if not consistent:
        return (record.sequence_number, record.checksum, record.previous_checksum, None,
                f"the stored ts_us column {row[4]!r} does not match the timestamp {row[3]!r}")
    if type(row[20]) not in (bool, int) or row[20] not in (0, 1):  # '' would read as False, yet not match success=0
        return (record.sequence_number, record.checksum, record.previous_checksum, None,
                f"the stored success column {row[20]!r} is neither 0 nor 1")
    return (record.sequence_number, record.checksum, record.previous_checksum, record.canonical_json(), "")


@dataclass(frozen=True)
class Dialect:
    """How one SQL engine spells placeholders, tag overlap and case-insensitive substring search."""

    placeholder: Callable[[int], str]
    tags_any: Callable[[str], str]
    contains: Callable[[str, str], str]
    in_chain: str = IN_CHAIN  # the rows served as records (SQLite also checks the stored types: see SQLITE_IN_CHAIN)


def build_query(table: str, q: AuditQuery, d: Dialect) -> tuple[str, list[Any]]:
    """SELECT text and bound parameters for the normalized query ``q`` (``order_by`` already whitelisted)."""
    where: list[str] = [d.in_chain]
    params: list[Any] = []

    def p(value: Any) -> str:
        params.append(value)
        return d.placeholder(len(params))

    for name in ("tenant_id", "actor_id", "actor_type", "pipeline_id", "run_id", "agent_name", "resource_type",
                 "resource_id"):
        value = getattr(q, name)
        if value is not None:
            where.append(f"{name} = {p(value)}")
    if q.success is not None:
        where.append(f"success = {p(bool(q.success))}")
    if q.start_time is not None:
        where.append(f"ts_us >= {p(ts_us(q.start_time))}")
    if q.end_time is not None:
        where.append(f"ts_us <= {p(ts_us(q.end_time))}")
    if q.event_types is not None:
        where.append(f"event_type IN ({', '.join(p(e.value) for e in q.event_types)})" if q.event_types else "1=0")
    if q.severities is not None:
        where.append(f"severity IN ({', '.join(p(s.value) for s in q.severities)})" if q.severities else "1=0")
    if q.tags is not None:
        where.append(d.tags_any(p(json.dumps(list(q.tags)))))
    if q.search_text:
        needle = q.search_text.lower()
        where.append(
            "(" + " OR ".join(d.contains(c, p(needle)) for c in ("action", "resource_id", "error_message")) + ")"
        )
    order = "ts_us" if q.order_by == "timestamp" else "sequence_number"
    direction = "DESC" if q.order_desc else "ASC"
    sql = f"SELECT {', '.join(COLUMNS)} FROM {table}"  # noqa: S608 - table validated, values bound
    sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order} {direction}, sequence_number {direction}, tenant_id {direction}"
    sql += f" LIMIT {p(q.limit)} OFFSET {p(q.offset)}"
    return sql, params


def duplicate_error(exc: Exception) -> AuditStorageError:
    """The error both SQL stores raise when a batch reuses a ``(tenant_id, sequence_number)``."""
    return AuditStorageError(
        f"duplicate audit record: a sequence number in this batch is already used ({exc}); "
        "reload the tenant head and retry"
    )


class SQLAppending(AuditStoreBase):
    """``append`` / ``append_many`` for the SQL stores, on top of their one-transaction ``_write_rows``.

    The trail appends through :meth:`append_sealed` (the columns from the texts its checksums covered). A subclass
    that overrides ``append`` or ``append_many`` but not ``append_sealed`` gets the base class's ``append_sealed``,
    which hands every record to those: the shortcut never bypasses a method a user wrote.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.append_sealed is SQLAppending.append_sealed and (  # looked up through the MRO: mixins count too
            cls.append is not SQLAppending.append or cls.append_many is not SQLAppending.append_many
        ):
            cls.append_sealed = AuditStoreBase.append_sealed  # type: ignore[method-assign]

    atomic_batches = True
    group_commit = True  # concurrent AuditTrail.log() calls share one transaction (llmteam.audit._group)

    async def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _write_row(self, row: tuple[Any, ...]) -> Awaitable[None]:
        """Write one row durably (a lone ``log()``); a store with a shorter path for one row overrides this."""
        return self._write_rows([row])

    async def append(self, record: AuditRecord) -> None:
        """Append one record durably; a reused ``(tenant_id, sequence_number)`` raises AuditStorageError."""
        await self._write_row(to_row(record))

    async def append_many(self, records: list[AuditRecord]) -> None:
        """Append all records in one durable transaction, or none of them."""
        if records:
            await self._write_rows([to_row(r) for r in records])

    def append_sealed(self, records: list[AuditRecord], sealed: list[tuple[str, ...] | None]) -> Awaitable[None]:
        """Append the trail's freshly sealed records in one transaction, their columns from the sealed texts.

        A lone record's row is built (and checked) at the call, the write is the awaitable returned: no extra
        coroutine. Several go to :meth:`_write_sealed`.
        """
        if len(records) == 1:
            return self._write_row(sealed_rows(records, sealed)[0])
        return self._write_sealed(records, sealed)

    async def _write_sealed(self, records: list[AuditRecord], sealed: list[tuple[str, ...] | None]) -> None:
        """Write several sealed records in one transaction (a store may build their rows as it writes them)."""
        await self._write_rows(sealed_rows(records, sealed))
