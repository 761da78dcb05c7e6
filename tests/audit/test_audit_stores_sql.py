"""What both SQL audit stores share (``_sql.py``): a record the trail sealed is stored with the very column texts
its fields encode to, and nothing sealed is ever reused for a record that changed afterwards."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import AuditEventType, AuditSeverity, AuditTrail
from llmteam.audit.stores import SQLiteAuditStore
from llmteam.audit.stores._sql import COLUMNS, to_row

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
