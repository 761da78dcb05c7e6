"""What both SQL audit stores share (``_sql.py``): a record the trail sealed is stored with the very column texts
its fields encode to, and nothing sealed is ever reused for a record that changed afterwards."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord, AuditSeverity, AuditStorageError, AuditTrail
from llmteam.audit._checksum import hasher
from llmteam.audit._record import seal
from llmteam.audit.stores import SQLiteAuditStore
from llmteam.audit.stores._sql import COLUMNS, sealed_rows, to_row, ts_us

from .._support.seeing import SeeingAppends

EVENTS: list[dict[str, Any]] = [
    {"action": "plain"},
    {"metadata": {"tool": "lookup_invoice", "decision": "allow", "args_digest": "c3" * 32, "duration_ms": 12.5,
                  "attempt": 1, "cached": False, "error": None}},  # a tool call's flat metadata: the template
    {"metadata": {"nested": {"a": [1, 2.5, None]}, "é": "中"}, "tags": ["x", "y"]},  # the encoder
    {"old_value": {"v": 1}, "new_value": {"v": 2}, "severity": AuditSeverity.WARNING, "success": False},
    {"action": 'say "hi"', "error_message": "two\nlines", "metadata": {"k": "back\\slash"}},  # escapes
    {"metadata": {"inf": float("inf"), "nan": float("nan")}},  # the encoder's NaN and Infinity
]


def _rows(path: Path, tenant: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(  # noqa: S608 - constant column list
            f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE tenant_id = ? ORDER BY sequence_number", (tenant,)
        ).fetchall()


def _stored(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row as SQLite gives it back (a bool comes back as an int)."""
    return tuple(int(v) if isinstance(v, bool) else v for v in row)


@pytest.mark.parametrize("batch", [False, True])
async def test_a_sealed_record_is_stored_as_its_fields_encode(tmp_path: Path, batch: bool) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    if batch:
        records = await trail.log_many([{"event_type": AuditEventType.ACTION_COMPLETED, **e} for e in EVENTS])
    else:
        records = [await trail.log(AuditEventType.ACTION_COMPLETED, **e) for e in EVENTS]
    assert await trail.verify_chain() == (True, [])
    await store.close()
    # every column as to_row() encodes the returned record afresh, without anything the trail kept
    assert _rows(tmp_path / "a.db", "acme") == [_stored(to_row(r)) for r in records]


async def test_a_record_changed_after_log_is_stored_as_changed(tmp_path: Path) -> None:
    # the caller's record is theirs to change: appended elsewhere, its row holds the new values, not the sealed ones
    first = SQLiteAuditStore(tmp_path / "first.db")
    record = await AuditTrail(first, tenant_id="acme", use_context_tenant=False).log(
        AuditEventType.ACTION_COMPLETED, metadata={"tool": "t", "decision": "allow"})
    record.metadata["decision"] = "deny"
    record.severity = AuditSeverity.ERROR
    record.checksum = record.compute_checksum()
    second = SQLiteAuditStore(tmp_path / "second.db")
    await second.append(record)
    assert await AuditTrail(second, tenant_id="acme", use_context_tenant=False).verify_chain() == (True, [])
    await first.close()
    await second.close()
    (row,) = _rows(tmp_path / "second.db", "acme")
    assert row[COLUMNS.index("metadata")] == '{"decision":"deny","tool":"t"}'
    assert row[COLUMNS.index("severity")] == "error"
    (original,) = _rows(tmp_path / "first.db", "acme")
    assert original[COLUMNS.index("metadata")] == '{"decision":"allow","tool":"t"}'


def _sealed(**kw: Any) -> tuple[AuditRecord, tuple[str, ...] | None]:
    record = AuditRecord("r", 1, datetime.now(timezone.utc), AuditEventType.DATA_CREATED, tenant_id="acme",
                         checksum="not yet")
    for name, value in kw.items():
        setattr(record, name, value)
    return record, seal(record, hasher(None))


@pytest.mark.parametrize(("change", "message"), [
    ({"sequence_number": 0}, "sequence_number=0 must be an int from 1 to"),
    ({"tenant_id": "t" * 300}, "cannot be stored"),
    ({"tenant_id": " "}, "cannot be stored"),
])
def test_sealed_rows_refuse_what_to_row_refuses(change: dict[str, Any], message: str) -> None:
    good, bad = _sealed(), _sealed(**change)
    assert bad[1] is not None  # the template wrote it: only the store's own checks can refuse it
    with pytest.raises(AuditStorageError, match=message):
        to_row(bad[0])
    with pytest.raises(AuditStorageError, match=message):
        sealed_rows([good[0], bad[0]], [good[1], bad[1]])


def test_sealed_rows_equal_to_row_also_for_a_record_the_template_left_to_the_encoder() -> None:
    records = [_sealed(), _sealed(action='say "hi"', sequence_number=2), _sealed(metadata={"k": [1]})]
    assert records[1][1] is None  # needs an escape: no sealed texts, to_row() encodes it
    assert sealed_rows([r for r, _ in records], [t for _, t in records]) == [to_row(r) for r, _ in records]


_times = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)),  # the trail's own: aware UTC
    st.datetimes(min_value=datetime.max - timedelta(seconds=2), timezones=st.just(timezone.utc)),  # the last second
    st.datetimes(timezones=st.none() | st.timezones()),  # naive (counted as UTC) and any other zone
)


@settings(max_examples=300, deadline=None)
@given(_times, st.lists(st.integers(-3_000_000, 3_000_000) | st.sampled_from([0, 1, 999_999, 1_000_000]),
                        max_size=12), st.randoms(use_true_random=False))
def test_sealed_rows_ts_us_is_the_datetime_arithmetic_for_any_times(
    first: datetime, steps: list[int], rnd: Any,
) -> None:
    # a batch's times (or one), close together (the same second or the next), any order, near the ends of time too
    times = [first]
    for step in steps:
        try:
            times.append(times[-1] + timedelta(microseconds=step))
        except OverflowError:
            times.append(first)
    times += [rnd.choice(times) for _ in range(rnd.randrange(3))]  # the same object again: a batch shares its time
    rnd.shuffle(times)
    records = [_sealed(timestamp=t, sequence_number=i + 1) for i, t in enumerate(times)]
    rows = sealed_rows([r for r, _ in records], [t for _, t in records])
    assert [row[COLUMNS.index("ts_us")] for row in rows] == [(t.replace(tzinfo=t.tzinfo or timezone.utc)
                                                               - datetime(1970, 1, 1, tzinfo=timezone.utc))
                                                              // timedelta(microseconds=1) for t in times]
    assert [row[COLUMNS.index("ts_us")] for row in rows] == [ts_us(t) for t in times]


def test_sealed_rows_take_a_naive_timestamp_as_utc_like_to_row() -> None:
    # a record sealed with a naive time (not the trail's, but seal() accepts it): sealed_rows raised TypeError
    # subtracting it from the aware epoch, where to_row() counts it as UTC
    record, texts = _sealed(timestamp=datetime(2024, 1, 1, 0, 0, 1, 5))
    assert sealed_rows([record], [texts]) == [to_row(record)]
    assert to_row(record)[COLUMNS.index("ts_us")] == 1_704_067_201_000_005


class _CountingStore(SQLiteAuditStore):
    """Counts the one-row writes (the store's shortest path) and the batch writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.one = self.many = 0

    async def _write_row(self, row: tuple[Any, ...]) -> None:
        self.one += 1
        await super()._write_row(row)

    async def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        self.many += 1
        await super()._write_rows(rows)


async def test_a_lone_log_takes_the_one_row_path_and_a_batch_the_batch_path(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    await trail.log(AuditEventType.DATA_CREATED)  # through append_sealed
    assert (store.one, store.many) == (1, 0)
    await trail.log_many([{"event_type": AuditEventType.DATA_CREATED}] * 3)
    assert (store.one, store.many) == (1, 1)
    record = await trail.log(AuditEventType.DATA_CREATED)
    other = _CountingStore(tmp_path / "b.db")
    record.sequence_number = 1
    record.previous_checksum = ""
    record.checksum = record.compute_checksum()
    await other.append(record)  # append() of a record takes the same one-row path
    assert (store.one, store.many, other.one, other.many) == (2, 1, 1, 0)
    assert await trail.verify_chain() == (True, [])
    await store.close()
    await other.close()


class _CountingSQLiteStore(SeeingAppends, SQLiteAuditStore):
    """A user's SQL store that overrides ``append`` / ``append_many`` through a mixin (to count, mirror or filter)."""


async def test_a_sql_store_subclass_overriding_append_still_sees_every_record_the_trail_appends(
    tmp_path: Path,
) -> None:
    """The trail hands SQL stores its sealed records through append_sealed; a subclass written against ``append``
    (the contract's store method) must not be bypassed by that shortcut."""
    store = _CountingSQLiteStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    try:
        await trail.log(AuditEventType.DATA_CREATED)
        await trail.log_many([{"event_type": AuditEventType.DATA_UPDATED}] * 3)
        assert store.seen == [1, 2, 3, 4]
        assert (await trail.verify_chain()) == (True, [])
    finally:
        await store.close()
