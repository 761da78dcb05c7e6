"""The memory:// run store keeps a bounded number of run records: the oldest finished go first, never a running one."""

from __future__ import annotations

import time

import pytest

from llmteam.team._records import RunRecord
from llmteam.team.stores import open_run_store
from llmteam.team.stores._memory import MemoryRunStore

LIMITS = {"max_concurrent": 1_000_000, "max_per_day": 1_000_000, "lease": 3600.0}


async def _run(store: MemoryRunStore, run_id: str, tenant: str = "t", *, finish: bool = True) -> RunRecord:
    record = RunRecord(run_id, tenant, "team")
    await store.admit(record, **LIMITS)
    if finish:
        record.status, record.finished_at = "succeeded", time.time()
        await store.finish(record)
    return record


async def test_records_stay_bounded_over_many_runs_oldest_finished_evicted_first() -> None:
    store = MemoryRunStore(max_runs=50)
    for i in range(2_000):
        await _run(store, f"r{i}", tenant=f"t{i % 7}")
        assert store.record_count() <= 50
    assert store.record_count() == 50
    assert await store.get("t0", "r0") is None  # the oldest went first
    newest = await store.get(f"t{1999 % 7}", "r1999")
    assert newest is not None and newest.status == "succeeded"


async def test_a_running_run_is_never_evicted() -> None:
    store = MemoryRunStore(max_runs=10)
    await _run(store, "long", finish=False)  # admitted first, still running
    for i in range(500):
        await _run(store, f"r{i}")
    running = await store.get("t", "long")
    assert running is not None and running.status == "running"
    assert store.record_count() == 10
    running.status, running.finished_at = "succeeded", time.time()
    await store.finish(running)  # once finished it is the newest record, evicted in its turn
    for i in range(500, 520):
        await _run(store, f"r{i}")
    assert await store.get("t", "long") is None and store.record_count() == 10


async def test_a_run_whose_lease_expired_counts_as_finished_for_eviction(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryRunStore(max_runs=5)
    record = RunRecord("crashed", "t", "team")
    await store.admit(record, max_concurrent=10, max_per_day=100, lease=0.0)  # a worker that died mid-run
    for i in range(20):
        await _run(store, f"r{i}")
    assert await store.get("t", "crashed") is None and store.record_count() == 5


async def test_only_running_runs_may_exceed_the_bound() -> None:
    store = MemoryRunStore(max_runs=3)
    for i in range(6):
        await _run(store, f"live{i}", finish=False)
    assert store.record_count() == 6  # nothing finished to evict: refusing would lose acknowledged work
    await _run(store, "done")
    assert store.record_count() == 6 and await store.get("t", "done") is None


def test_the_bound_is_configurable_and_checked() -> None:
    assert MemoryRunStore().max_runs == MemoryRunStore.DEFAULT_MAX_RUNS
    assert isinstance(open_run_store("memory://"), MemoryRunStore)
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="max_runs"):
            MemoryRunStore(max_runs=bad)  # type: ignore[arg-type]
