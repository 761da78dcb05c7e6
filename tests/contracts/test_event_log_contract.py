"""One contract suite for the durable process-event log, over memory, SQLite and PostgreSQL."""

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llmteam.roles import EventLogError, ProcessEvent, ProcessMiningEngine, import_xes, open_event_log
from llmteam.roles.stores import PostgresEventLog

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def log(store_backend: str, backend_pg_pool: Any, tmp_path: Path) -> Iterator[Any]:
    if store_backend == "memory":
        store: Any = open_event_log("memory://")
    elif store_backend == "sqlite":
        store = open_event_log(f"sqlite:///{tmp_path}/events.db")
    else:
        store = PostgresEventLog(pool=backend_pg_pool)
    yield store
    if store_backend == "sqlite":
        store._db.close()  # SQLiteEventLog.close() only does this, synchronously


def ev(case: str, act: str, sec: int, **attrs: Any) -> ProcessEvent:
    return ProcessEvent(f"{case}-{act}-{sec}", T0 + timedelta(seconds=sec), act, "bot", case, "complete", sec, 0.25,
                        dict(attrs))


async def test_append_iterate_in_case_order_with_filters(log: Any) -> None:
    await log.append(ev("c2", "b", 5, k="v"), tenant_id="acme")
    assert await log.append_many([ev("c1", "b", 3), ev("c1", "a", 1), ev("c2", "a", 0)], tenant_id="acme") == 3
    await log.append(ev("c1", "x", 0), tenant_id="other")
    got = [(e.case_id, e.activity) async for e in log.iterate(tenant_id="acme", page_size=2)]
    assert got == [("c1", "a"), ("c1", "b"), ("c2", "a"), ("c2", "b")]
    one = [e async for e in log.iterate(tenant_id="acme", case_id="c2")]
    assert one[1] == ev("c2", "b", 5, k="v")
    assert await log.count() == 5 and await log.count(tenant_id="acme") == 4
    assert await log.count(tenant_id="acme", case_id="c1") == 2 and await log.count(tenant_id="nobody") == 0
    cases = [(cid, [e.activity for e in evs]) async for cid, evs in log.iterate_cases(tenant_id="acme", page_size=1)]
    assert cases == [("c1", ["a", "b"]), ("c2", ["a", "b"])]


async def test_values_round_trip_exactly(log: Any) -> None:
    naive = ProcessEvent("n", datetime(2024, 5, 1, 8, 30, 0, 123456), "act", "res", "c", "start", 7, 1.5,
                         {"n": 1, "s": "x'; DROP TABLE process_events;--", "l": [1, 2], "u": "ünï"})
    await log.append(naive)
    (back,) = [e async for e in log.iterate()]
    assert back == naive


async def test_bad_events_leave_nothing_behind(log: Any) -> None:
    good = ev("c", "a", 1)
    for bad in (ProcessEvent("x", T0, "a\x00b", "r", "c"), ProcessEvent("x", "yesterday", "a", "r", "c"),  # type: ignore[arg-type]
                ProcessEvent("x", T0, "a", "r", "c", cost=float("nan")),
                ProcessEvent("x", T0, "a", "r", "c", attributes={"s": float("inf")})):
        with pytest.raises(EventLogError):  # not the driver's own error: the same on every backend
            await log.append_many([good, bad])
    with pytest.raises(EventLogError):
        await log.append_many(good)
    assert await log.count() == 0
    assert await log.append_many([]) == 0


async def test_load_into_engine_and_stream_xes(log: Any, tmp_path: Path) -> None:
    await log.append_many([ev(f"c{i % 3}", f"a{i % 2}", i) for i in range(10)], tenant_id="t")
    engine = ProcessMiningEngine()
    assert await log.load_into(engine, tenant_id="t") == 10
    assert engine.get_case_count() == 3
    path = tmp_path / "out.xes"
    assert await log.write_xes(path, standard=True, tenant_id="t") == 10
    assert sorted((e.case_id, e.timestamp) for e in import_xes(path)) == sorted(
        (e.case_id, e.timestamp) for e in engine.get_events())
    assert await log.write_xes(tmp_path / "none.xes", tenant_id="nobody") == 0


async def test_sqlite_log_is_durable_across_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    async with open_event_log(url) as first:
        await first.append(ev("c", "a", 1), tenant_id="t")
    async with open_event_log(url) as second:
        assert await second.count(tenant_id="t") == 1


def test_open_event_log_validates() -> None:
    with pytest.raises(ValueError, match="table name"):
        open_event_log("memory://", table_name="bad-name; DROP")
    with pytest.raises(ValueError, match="redis"):
        open_event_log("redis://localhost")


@pytest.mark.postgres
async def test_postgres_by_url(pg_schema_url: str) -> None:
    async with open_event_log(pg_schema_url) as store:
        await store.append(ev("c", "a", 1))
        assert await store.count() == 1
