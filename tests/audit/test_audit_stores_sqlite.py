"""SQLite audit store schema: numbered migrations, and one B-tree for (tenant_id, sequence_number)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord, AuditTrail
from llmteam.audit._checksum import hasher
from llmteam.audit._errors import AuditStorageError
from llmteam.audit._record import seal
from llmteam.audit.stores import SQLiteAuditStore
from llmteam.audit.stores._sql import COLUMNS, IN_CHAIN, to_row
from llmteam.audit.stores._sqlite import _ddl
from llmteam.backends import sqlite as sqlite_backend


def _indexes(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as conn:
        return [(r[1], r[2]) for r in conn.execute("PRAGMA index_list(audit_log)")]


async def test_one_unique_index_per_append(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    first = await trail.log(AuditEventType.DATA_CREATED, action="a")
    await store.close()
    unique = [name for name, is_unique in _indexes(tmp_path / "a.db") if is_unique]
    assert len(unique) == 1, unique  # UNIQUE(tenant_id, sequence_number) only, not a second identical index
    store = SQLiteAuditStore(tmp_path / "a.db")
    with pytest.raises(AuditStorageError, match="duplicate"):
        await store.append(first)  # the constraint still holds
    await store.close()


async def test_a_database_of_the_previous_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = SQLiteAuditStore(tmp_path / "scratch.db")
    record = (await AuditTrail(old, tenant_id="acme", use_context_tenant=False).log(
        AuditEventType.DATA_CREATED, action="before the upgrade"))
    await old.close()
    with sqlite3.connect(path) as conn:  # what schema v1 left on disk: the tables and a duplicate unique index
        for stmt in _ddl("audit_log"):
            conn.execute(stmt)
        conn.execute("CREATE UNIQUE INDEX audit_log_tenant_seq ON audit_log (tenant_id, sequence_number)")
        conn.execute("CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES ('audit:audit_log', 1)")
        marks = ", ".join("?" * len(COLUMNS))
        conn.execute(f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({marks})", to_row(record))  # noqa: S608
    assert "audit_log_tenant_seq" in dict(_indexes(path))

    store = SQLiteAuditStore(path)
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    second = await trail.log(AuditEventType.DATA_UPDATED, action="after the upgrade")
    assert second.sequence_number == 2 and second.previous_checksum == record.checksum
    assert await trail.verify_chain() == (True, [])
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version WHERE component = 'audit:audit_log'").fetchone() == (4,)
    assert "audit_log_tenant_seq" not in dict(_indexes(path))


def _triggers(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def _forge_row_zero(path: Path) -> None:
    """The attacker's move: a row at sequence 0 (outside the chain), inserted behind the store's back."""
    record = AuditRecord("forged", 1, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                         tenant_id="acme", checksum="c" * 64)
    row = list(to_row(record))
    row[COLUMNS.index("sequence_number")] = 0
    with sqlite3.connect(path) as conn:
        marks = ", ".join("?" * len(COLUMNS))
        conn.execute(f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({marks})", row)  # noqa: S608


async def test_a_table_with_the_check_needs_no_per_row_trigger(tmp_path: Path) -> None:
    # schema v4 drops the trigger where the table's own CHECK refuses rows outside the chain (every table v2+ made)
    path = tmp_path / "a.db"
    store = SQLiteAuditStore(path)
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log(AuditEventType.DATA_CREATED)
    await store.close()
    assert "audit_log_seq_positive" not in _triggers(path)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        _forge_row_zero(path)


async def test_a_table_from_before_the_check_keeps_its_trigger(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:  # schema v1: no CHECK (SQLite cannot add one to an existing table)
        conn.execute(_ddl("audit_log")[0].replace(f", CHECK ({IN_CHAIN})", ""))
        conn.execute("CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES ('audit:audit_log', 1)")
    store = SQLiteAuditStore(path)
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log(AuditEventType.DATA_CREATED)
    await store.close()
    assert "audit_log_seq_positive" in _triggers(path)
    with pytest.raises(sqlite3.IntegrityError, match="sequence numbers start at 1"):
        _forge_row_zero(path)


@pytest.mark.parametrize("n", [2, 8, 9, 31, 32, 33, 64, 100, 1000])
async def test_a_batch_of_any_size_is_stored_in_order_and_verifies(tmp_path: Path, n: int) -> None:
    # a batch goes out as multi-row INSERTs of 32, 16, 8... rows: every size must store every record, in order
    store = SQLiteAuditStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    acked = await trail.log_many([{"event_type": AuditEventType.DATA_CREATED, "action": str(i)} for i in range(n)])
    stored = await store.get_by_sequence_range("acme", 1, n)
    assert [r.to_dict() for r in stored] == [r.to_dict() for r in acked]
    assert await trail.verify_chain() == (True, [])
    await store.close()


async def test_a_duplicate_anywhere_in_a_batch_writes_nothing(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    first = await trail.log(AuditEventType.DATA_CREATED)
    batch = [AuditRecord(f"r{i}", i + 2, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                         tenant_id="acme") for i in range(70)]
    batch[50] = first  # sequence 1 again, in the third 32-row statement
    with pytest.raises(AuditStorageError, match="duplicate"):
        await store.append_many(batch)
    assert await store.count("acme") == 1
    await store.close()


async def test_a_sealed_batch_refused_in_a_later_statement_writes_nothing(tmp_path: Path) -> None:
    # a sealed batch's rows are built in the writer thread a statement (32 rows) at a time: a record refused in
    # the third statement rolls back the two already inserted, and the connection is usable at once
    store = SQLiteAuditStore(tmp_path / "a.db")
    records = [AuditRecord(f"r{i}", i + 1, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                           tenant_id="acme", checksum="set by seal") for i in range(70)]
    sealed = [seal(r, hasher(None)) for r in records]
    records[65].sequence_number = 0  # after sealing: only the store's own check can refuse it
    with pytest.raises(AuditStorageError, match="sequence_number=0"):
        await store.append_sealed(records, sealed)
    assert await store.count("acme") == 0
    await store.append_sealed(records[:65], sealed[:65])
    assert await store.count("acme") == 65
    await store.close()


class _Label(str):
    """A str subclass (like a StrEnum member): stored as the text it holds."""


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["actor_id", "action", "resource_id", "error_message", "checksum", "run_id"]),
       st.one_of(st.text(max_size=8), st.text(max_size=8).map(_Label), st.integers(), st.none(), st.binary(max_size=4)))
def test_a_text_field_that_is_not_a_str_is_refused_naming_it(field: str, value: object) -> None:
    record = AuditRecord("r1", 1, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                         tenant_id="acme", checksum="c" * 64)
    setattr(record, field, value)
    if isinstance(value, str):
        assert to_row(record)[COLUMNS.index(field)] == value
    else:
        with pytest.raises(AuditStorageError, match=f"audit field {field}=.* must be a str to be stored"):
            to_row(record)


async def test_a_refused_record_writes_nothing(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    good = AuditRecord("r1", 1, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                       tenant_id="acme")
    bad = AuditRecord("r2", 2, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                      tenant_id="acme", checksum="c" * 64)
    bad.actor_id = 7  # type: ignore[assignment]
    with pytest.raises(AuditStorageError, match="actor_id=7"):
        await store.append_many([good, bad])
    assert await store.count("acme") == 0
    await store.append(good)  # a lone record takes the single-INSERT path
    assert [r.record_id for r in await store.get_by_sequence_range("acme", 1, 1)] == ["r1"]
    await store.close()


@pytest.mark.parametrize("size", [1, 2])
async def test_an_append_sqlite_refuses_is_an_audit_error_and_leaves_no_transaction_open(
    tmp_path: Path, size: int
) -> None:
    """Not a duplicate (the table is gone): an AuditStorageError naming the file, and the write connection
    is usable at once, whether the record went alone (append) or in a batch (append_many)."""
    store = SQLiteAuditStore(tmp_path / "a.db")
    records = [AuditRecord(f"r{i}", i, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                           tenant_id="acme") for i in range(1, size + 1)]
    await store.append(AuditRecord("r0", 99, datetime(2024, 1, 1, tzinfo=timezone.utc),
                                   AuditEventType.DATA_CREATED, tenant_id="acme"))  # schema ready, statement cached
    with sqlite3.connect(tmp_path / "a.db") as other:
        other.execute("DROP TABLE audit_log")
    with pytest.raises(AuditStorageError, match=r"a\.db.* failed to append: no such table"):
        await (store.append(records[0]) if size == 1 else store.append_many(records))
    assert store.db.write_sync(lambda c: c.execute("SELECT 1").fetchone()) == (1,)  # no transaction left open
    await store.close()


async def test_a_lone_log_is_one_insert_committed_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_backend, "INLINE_MAX_SECONDS", 3600.0)  # pin "recent commits were quick" (load)
    store = SQLiteAuditStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    await trail.log(AuditEventType.DATA_CREATED, action="first")  # the schema is in place
    seen: list[str] = []
    store.db.writer().set_trace_callback(seen.append)
    rec = await trail.log(AuditEventType.DATA_CREATED, action="second")
    assert [s.split(" (")[0] for s in seen] == ["INSERT INTO audit_log"]  # no BEGIN, no COMMIT round trips
    with sqlite3.connect(tmp_path / "a.db") as other:  # another connection sees it: committed on return
        assert other.execute("SELECT sequence_number, checksum FROM audit_log WHERE action = 'second'").fetchall() == [
            (2, rec.checksum)]
    await store.close()


async def test_a_lone_log_waits_off_the_loop_while_another_process_writes(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
    await trail.log(AuditEventType.DATA_CREATED, action="first")
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    task = asyncio.ensure_future(trail.log(AuditEventType.DATA_CREATED, action="second"))
    ticks = 0
    while ticks < 5:  # the loop keeps running while the append waits in the writer thread
        await asyncio.sleep(0.01)
        ticks += 1
    assert not task.done()
    blocker.execute("ROLLBACK")
    rec = await asyncio.wait_for(task, 30)
    assert rec.sequence_number == 2 and (await trail.verify_chain())[0]
    blocker.close()
    await store.close()


@pytest.mark.parametrize("size", [1, 2, 40])
async def test_a_sequence_number_past_64_bits_is_an_audit_error_and_writes_nothing(tmp_path: Path, size: int) -> None:
    # a record appended directly with sequence 2**70 escaped as OverflowError (SQLite binds 64-bit integers)
    store = SQLiteAuditStore(tmp_path / "a.db")
    records = [AuditRecord(f"r{i}", i, datetime(2024, 1, 1, tzinfo=timezone.utc), AuditEventType.DATA_CREATED,
                           tenant_id="acme", checksum="set by seal") for i in range(1, size + 1)]
    sealed = [seal(r, hasher(None)) for r in records]
    records[-1].sequence_number = 2**70
    with pytest.raises(AuditStorageError, match=r"sequence_number=1180591620717411303424 must be an int from 1 to"):
        await (store.append(records[0]) if size == 1 else store.append_sealed(records, sealed))
    with pytest.raises(AuditStorageError, match="must be an int from 1 to"):
        await store.append_many(records)
    assert await store.count("acme") == 0
    await store.close()
