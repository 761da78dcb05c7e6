"""One AuditStore contract suite over memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import (
    AuditEventType,
    AuditLedger,
    AuditQuery,
    AuditRecord,
    AuditStorageError,
    AuditStore,
    AuditTrail,
    SigningKey,
)
from llmteam.audit.stores import MemoryAuditStore, PostgresAuditStore, SQLiteAuditStore, open_audit_store


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("postgres-url", marks=pytest.mark.postgres)])
def store_backend(request: pytest.FixtureRequest) -> str:
    """As in conftest, plus PostgreSQL opened by URL: a pool of the store's backend, lone appends on the connection
    it holds (``postgres`` is a pool the caller owns, which is never held)."""
    return str(request.param)


@pytest.fixture
def backend_pg_url(store_backend: str, request: pytest.FixtureRequest) -> str:
    """This test's PostgreSQL URL (a private schema) in the postgres-url case, else ""."""
    return str(request.getfixturevalue("pg_schema_url")) if store_backend == "postgres-url" else ""


@pytest.fixture
async def store(store_backend: str, backend_pg_pool: Any, backend_pg_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    if store_backend == "memory":
        s: Any = MemoryAuditStore()
    elif store_backend == "sqlite":
        s = SQLiteAuditStore(tmp_path / "audit.db")
    elif store_backend == "postgres":
        s = PostgresAuditStore(backend_pg_pool)
    else:
        s = open_audit_store(backend_pg_url)
    yield s
    if isinstance(s, SQLiteAuditStore):
        s.db.close()
    elif store_backend == "postgres-url":
        await asyncio.wait_for(s.close(), 60)  # a hang guard: closing must not wait on the held connection


def rec(seq: int, tenant: str = "acme", **kw: Any) -> AuditRecord:
    base: dict[str, Any] = dict(record_id=f"{tenant}-{seq}", sequence_number=seq,
                                timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=seq),
                                event_type=AuditEventType.DATA_CREATED, tenant_id=tenant)
    base.update(kw)
    return AuditRecord(**base)


async def test_protocol_append_and_ranges(store: Any) -> None:
    assert isinstance(store, AuditStore)
    assert await store.get_last_sequence("acme") == 0
    for i in range(1, 6):
        await store.append(rec(i, metadata={"i": i, "nested": {"b": [1.5, None], "a": "é"}}, tags=["t"]))
    await store.append(rec(1, "other"))
    assert await store.get_last_sequence("acme") == 5
    got = await store.get_by_sequence_range("acme", 2, 4)
    assert [r.sequence_number for r in got] == [2, 3, 4]
    assert all(r.verify_integrity() for r in got) and got[0].metadata["nested"] == {"b": [1.5, None], "a": "é"}
    with pytest.raises(AuditStorageError):
        await store.append(rec(3, record_id="different"))
    assert await store.count() == 6 and await store.count("acme") == 5
    assert await store.tenants() == ["acme", "other"]


async def test_append_many_is_atomic(store: Any) -> None:
    await store.append(rec(2))
    with pytest.raises(AuditStorageError):
        await store.append_many([rec(1), rec(2, record_id="dup")])
    assert await store.count("acme") == 1


async def test_query_filters_order_and_pages(store: Any) -> None:
    await store.append(rec(1, action="Create Invoice", actor_id="alice", tags=["a", "b"]))
    await store.append(rec(2, event_type=AuditEventType.DATA_DELETED, success=False, error_message="Boom", tags=["c"]))
    await store.append(rec(3, resource_id="INV-9", pipeline_id="p"))
    await store.append(rec(1, "other"))

    async def seqs(**kw: Any) -> list[int]:
        return [r.sequence_number for r in await store.query(AuditQuery(tenant_id="acme", **kw))]

    assert await seqs() == [3, 2, 1]
    assert await seqs(order_by="sequence_number", order_desc=False, limit=2, offset=1) == [2, 3]
    assert await seqs(search_text="invoice") == [1]
    assert await seqs(search_text="inv-") == [3]
    assert await seqs(search_text="BOOM") == [2]
    assert await seqs(tags=["b", "c"]) == [2, 1]
    assert await seqs(success=False) == [2]
    assert await seqs(event_types=[AuditEventType.DATA_DELETED]) == [2]
    assert await seqs(actor_id="alice", pipeline_id=None) == [1]
    naive = datetime(2024, 1, 1, 0, 2)
    assert await seqs(start_time=naive, end_time=naive + timedelta(minutes=1)) == [3, 2]
    assert len(await store.query(AuditQuery())) == 4
    with pytest.raises(ValueError, match="order_by"):
        await store.query(AuditQuery(order_by="checksum; DROP TABLE audit_log"))


@pytest.mark.parametrize(("filters", "message"), [
    ({"tags": [["a"]]}, r"tags=\[\['a'\]\] must be a list of str"),
    ({"tags": "ab"}, "tags='ab' must be a list of str"),
    ({"search_text": b"x"}, "search_text=b'x' must be a str"),
    ({"tags": 5}, "tags=5 must be a list of str"),  # these three were a TypeError from iterating an int
    ({"event_types": 5}, "event_types=5 must be a list of event types"),
    ({"severities": 5}, "severities=5 must be a list of severities"),
    ({"event_types": "data.created"}, "event_types='data.created' must be a list of event types"),  # not its letters
])
async def test_a_filter_of_the_wrong_type_is_a_clear_error_on_every_store(
    store: Any, filters: dict[str, Any], message: str
) -> None:
    # a list inside tags raised "unhashable type" from the memory store, bytes reached the SQL drivers; a str for
    # tags was read as its characters
    await store.append(rec(1, tags=["a"]))
    with pytest.raises(ValueError, match=message):
        await store.query(AuditQuery(tenant_id="acme", **filters))
    assert [r.sequence_number for r in await store.query(AuditQuery(tenant_id="acme", tags=("a",)))] == [1]


async def test_concurrent_trails_on_one_store_gap_free(store: Any) -> None:
    trails = [AuditTrail(store, tenant_id="acme", use_context_tenant=False) for _ in range(3)]
    await asyncio.gather(*(t.log(AuditEventType.DATA_CREATED) for _ in range(15) for t in trails))
    assert await trails[0].verify_chain() == (True, [])
    assert await store.get_last_sequence("acme") == 45


async def test_checkpoints_and_verification(store: Any) -> None:
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log_many(
        [{"event_type": AuditEventType.DATA_CREATED}] * 20)
    ledger = AuditLedger(store, SigningKey.generate())
    cp = await ledger.checkpoint("acme")
    assert await store.latest_checkpoint("acme") == cp
    res = await ledger.verify("acme", cp)
    assert res.ok and res.records_checked == 20 and res.tree_size == 20


async def test_a_tenant_with_only_a_checkpoint_is_verified_and_found_truncated(store: Any) -> None:
    # a tenant whose records were all deleted (review, 2026-11-29): its stored checkpoint still names it, so the
    # ledger verifies it, and the trail's verify_chain reads the checkpoint's size as the chain's end
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log_many(
        [{"event_type": AuditEventType.DATA_CREATED}] * 3)
    ledger = AuditLedger(store, SigningKey.generate())
    cp = await ledger.checkpoint("acme")
    await store.save_checkpoint({**cp, "tenant_id": "beta"})  # as if beta's three records were gone
    assert await store.checkpoint_tenants() == ["acme", "beta"] and await store.tenants() == ["acme"]
    assert await ledger.tenants() == ["acme", "beta"]
    assert await store.outside_chain("acme") == 0
    res = await ledger.verify("beta", await store.latest_checkpoint("beta"))
    assert not res.ok and any("truncated" in p or "checkpoint" in p for p in res.problems)
    assert await AuditTrail(store, tenant_id="beta", use_context_tenant=False).verify_chain() == (False, [1, 2, 3])
    assert await AuditTrail(store, tenant_id="acme", use_context_tenant=False).verify_chain() == (True, [])


def test_open_audit_store(tmp_path: Path) -> None:
    assert isinstance(open_audit_store("memory://"), MemoryAuditStore)
    assert isinstance(open_audit_store(f"sqlite:///{tmp_path}/x.db"), SQLiteAuditStore)
    assert isinstance(open_audit_store("postgresql://u@localhost/db"), PostgresAuditStore)
    with pytest.raises(ValueError):
        open_audit_store("redis://localhost")
    with pytest.raises(ValueError):
        SQLiteAuditStore(tmp_path / "y.db", table_name="bad name")


PG_WRITER = """
import asyncio, sys
from llmteam.audit import AuditTrail, AuditEventType
from llmteam.audit.stores import open_audit_store
async def main():
    s = open_audit_store(sys.argv[1])
    t = AuditTrail(s, tenant_id="acme", use_context_tenant=False)
    for i in range(40):
        print((await t.log(AuditEventType.DATA_CREATED)).sequence_number, flush=True)
    await s.close()
asyncio.run(main())
"""


@pytest.mark.postgres
async def test_two_processes_on_one_postgres_db(pg_schema_url: str, pg_pool: Any) -> None:
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", PG_WRITER, pg_schema_url,
                                                  stdout=asyncio.subprocess.PIPE, env=dict(os.environ))
             for _ in range(2)]
    outs = [(await p.communicate())[0].decode().split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(int(x) for out in outs for x in out) == list(range(1, 81))
    store = PostgresAuditStore(pg_pool)
    assert (await AuditLedger(store, SigningKey.generate()).verify("acme")).ok
