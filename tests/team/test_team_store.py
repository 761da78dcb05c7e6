"""The run-store contract, run against every backend: memory, SQLite (tmp file) and PostgreSQL (real server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmteam.team import (
    AdmissionRefused,
    MemoryRunStore,
    PostgresRunStore,
    RunRecord,
    RunStore,
    SQLiteRunStore,
    Usage,
    open_run_store,
)

BIG = 1_000_000


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    # sync on purpose: the async pg_pool fixture (a per-test schema) is requested only for the postgres case
    if request.param == "memory":
        s: Any = MemoryRunStore()
    elif request.param == "sqlite":
        s = SQLiteRunStore(str(tmp_path / "runs.db"))
    else:
        s = PostgresRunStore(request.getfixturevalue("pg_pool"))  # the fixture owns and closes the pool
    yield s
    if isinstance(s, SQLiteRunStore):
        s.db.close()


def rec(tenant: str, run_id: str, **kw: Any) -> RunRecord:
    return RunRecord(run_id, tenant, "team", input={"q": run_id}, **kw)


async def test_round_trip(store: Any) -> None:
    assert isinstance(store, RunStore)
    r = rec("t1", "r1")
    await store.admit(r, max_concurrent=BIG, max_per_day=BIG, lease=60)
    got = await store.get("t1", "r1")
    assert got is not None and got.status == "running" and got.input == {"q": "r1"}
    r.status, r.output, r.steps, r.finished_at = "completed", "out", 2, time.time()
    r.usage = Usage(10, 5, 2, 0.25)
    r.usage_by_agent = {"a": Usage(4, 2, 1, 0.1), "b": Usage(6, 3, 1, 0.15)}
    r.models = {"a": "m1", "b": "m2"}
    await store.finish(r)
    got = await store.get("t1", "r1")
    assert got is not None and (got.status, got.output, got.steps) == ("completed", "out", 2)
    assert got.usage == Usage(10, 5, 2, 0.25) and got.usage_by_agent["b"] == Usage(6, 3, 1, 0.15)
    usage = await store.usage("t1")
    assert usage.runs == 1 and usage.total == Usage(10, 5, 2, 0.25)
    assert usage.by_model["m1"] == Usage(4, 2, 1, 0.1) and usage.by_agent["b"].cost == pytest.approx(0.15)
    assert got.to_dict()["usage"]["total_tokens"] == 15


async def test_tenants_never_see_each_other(store: Any) -> None:
    for t in ("t1", "t2"):
        for i in range(3):
            r = rec(t, f"{t}-{i}")
            await store.admit(r, max_concurrent=BIG, max_per_day=BIG, lease=60)
            r.status, r.usage = "completed", Usage(1, 1, 1, 1.0)
            r.usage_by_agent = {"a": Usage(1, 1, 1, 1.0)}
            await store.finish(r)
    assert await store.get("t2", "t1-0") is None
    assert {r.run_id for r in await store.list("t1")} == {"t1-0", "t1-1", "t1-2"}
    assert [r.run_id for r in await store.list("t2", limit=2, offset=1)] != []
    assert (await store.usage("t2")).runs == 3 and (await store.usage("nobody")).runs == 0


async def test_concurrency_limit_is_atomic(store: Any) -> None:
    async def admit(i: int) -> bool:
        try:
            await store.admit(rec("t1", f"r{i}"), max_concurrent=5, max_per_day=BIG, lease=60)
            return True
        except AdmissionRefused as exc:
            assert exc.limit_type == "concurrent_pipelines" and exc.maximum == 5
            return False

    results = await asyncio.gather(*(admit(i) for i in range(20)))
    assert sum(results) == 5
    assert len(await store.list("t1")) == 5  # refused admissions wrote nothing
    other = rec("t2", "x")
    await store.admit(other, max_concurrent=5, max_per_day=BIG, lease=60)  # other tenants unaffected


async def test_finished_runs_free_their_slot_and_count_per_day(store: Any) -> None:
    for i in range(3):
        r = rec("t1", f"r{i}")
        await store.admit(r, max_concurrent=1, max_per_day=3, lease=60)
        r.status = "completed"
        await store.finish(r)
    with pytest.raises(AdmissionRefused) as info:
        await store.admit(rec("t1", "r4"), max_concurrent=1, max_per_day=3, lease=60)
    assert (info.value.limit_type, info.value.current, info.value.maximum) == ("runs_per_day", 3, 3)


async def test_live_lease_counts_and_expired_lease_stops_counting(store: Any) -> None:
    await store.admit(rec("t1", "live"), max_concurrent=1, max_per_day=BIG, lease=60)
    with pytest.raises(AdmissionRefused):
        await store.admit(rec("t1", "next"), max_concurrent=1, max_per_day=BIG, lease=60)
    # a crashed run whose lease has already run out (no sleeping: load cannot flake this)
    await store.admit(rec("t2", "crashed"), max_concurrent=1, max_per_day=BIG, lease=0.0)
    await store.admit(rec("t2", "next"), max_concurrent=1, max_per_day=BIG, lease=60)


async def test_a_run_starts_when_it_is_admitted(store: Any) -> None:
    # started_at is stamped inside the admission critical section, so runs that waited to be admitted never
    # appear to overlap the runs they waited for.
    record = rec("t1", "waited")
    created = record.started_at
    await asyncio.sleep(0.02)
    before = time.time()
    await store.admit(record, max_concurrent=1, max_per_day=BIG, lease=60)
    assert record.started_at >= before > created
    stored = await store.get("t1", "waited")
    assert stored is not None and stored.started_at == pytest.approx(record.started_at)


async def test_a_paused_run_frees_its_slot_until_it_is_unpaused(store: Any) -> None:
    await store.admit(rec("t1", "waits"), max_concurrent=1, max_per_day=BIG, lease=60)
    with pytest.raises(AdmissionRefused):
        await store.admit(rec("t1", "blocked"), max_concurrent=1, max_per_day=BIG, lease=60)
    await store.pause("t1", "waits")
    await store.pause("t2", "waits")  # another tenant's id: nothing happens
    got = await store.get("t1", "waits")
    assert got is not None and got.status == "paused"
    other = rec("t1", "other")
    await store.admit(other, max_concurrent=1, max_per_day=BIG, lease=60)  # the paused run holds no slot
    with pytest.raises(AdmissionRefused, match="concurrent_pipelines"):
        await store.unpause("t1", "waits", max_concurrent=1, lease=60)
    other.status, other.finished_at = "completed", time.time()
    await store.finish(other)
    await store.unpause("t1", "waits", max_concurrent=1, lease=60)
    await store.unpause("t1", "waits", max_concurrent=1, lease=60)  # not paused any more: left as it is
    got = await store.get("t1", "waits")
    assert got is not None and got.status == "running"
    with pytest.raises(AdmissionRefused):
        await store.admit(rec("t1", "blocked"), max_concurrent=1, max_per_day=BIG, lease=60)
    await store.pause("t1", "missing")  # unknown runs: no error, nothing written
    await store.unpause("t1", "missing", max_concurrent=1, lease=60)
    assert await store.get("t1", "missing") is None


def test_memory_store_is_bounded() -> None:
    async def main() -> None:
        s = MemoryRunStore(max_runs=10)
        for i in range(50):
            r = rec("t1", f"r{i}")
            await s.admit(r, max_concurrent=BIG, max_per_day=BIG, lease=60)
            r.status = "completed"
            await s.finish(r)
        assert len(await s.list("t1", limit=100)) == 10 and (await s.usage("t1")).runs == 50

    asyncio.run(main())
    with pytest.raises(ValueError, match="max_runs=0"):
        MemoryRunStore(max_runs=0)


def test_open_run_store_by_url(tmp_path: Path) -> None:
    assert isinstance(open_run_store("memory://"), MemoryRunStore)
    assert isinstance(open_run_store(f"sqlite:///{tmp_path}/x.db"), SQLiteRunStore)
    assert isinstance(open_run_store("postgresql://u@h/db"), PostgresRunStore)
    with pytest.raises(ValueError, match="redis"):
        open_run_store("redis://localhost")
    with pytest.raises(ValueError, match="exactly one"):
        PostgresRunStore()
