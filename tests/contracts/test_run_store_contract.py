"""One RunStore contract (the base-class docstrings), run against every backend: memory, SQLite and real PostgreSQL.

Also: a database made by an older llmteam (run-store schema v1, before tool usage was kept) is upgraded in place
by the numbered migration when the new code opens it, and nothing in it is lost.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.backends import SQLiteDatabase
from llmteam.team import (
    AdmissionRefused,
    MemoryRunStore,
    PostgresRunStore,
    RunRecord,
    RunRecordError,
    RunStore,
    SQLiteRunStore,
    Usage,
    open_run_store,
)

BIG = 1_000_000
StoreFactory = Callable[[], Awaitable[RunStore]]


@pytest.fixture
async def make_store(store_backend: str, backend_pg_pool: Any, tmp_path: Path,
                     request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Opens a store on this test's database; each call gives a store with connections of its own (a private
    SQLite connection, a private asyncpg pool on the test's schema), as separate processes would have."""
    pools: list[Any] = []

    async def make() -> RunStore:
        if store_backend == "memory":
            return MemoryRunStore()
        if store_backend == "sqlite":
            return SQLiteRunStore(SQLiteDatabase(tmp_path / "runs.db"))
        if not pools:
            pools.append(backend_pg_pool)  # the fixture owns and closes this one
            return PostgresRunStore(backend_pg_pool)
        import asyncpg

        pool = await asyncpg.create_pool(request.getfixturevalue("postgres_url"), min_size=1, max_size=2,
                                         server_settings={"search_path": request.getfixturevalue("unique_name")})
        pools.append(pool)
        return PostgresRunStore(pool)

    yield make
    for pool in pools[1:]:
        await pool.close()


@pytest.fixture
async def store(store_backend: str, make_store: StoreFactory, tmp_path: Path) -> AsyncIterator[RunStore]:
    """The store as a runtime opens it: on the file's shared backend for SQLite."""
    s = SQLiteRunStore(str(tmp_path / "runs.db")) if store_backend == "sqlite" else await make_store()
    yield s
    await s.close()


def rec(tenant: str, run_id: str, **kw: Any) -> RunRecord:
    return RunRecord(run_id, tenant, "team", input={"q": run_id}, **kw)


TOOLS = Usage(10, 5, 2, 0.25, tool_calls=3, tool_ms=12.5, unpriced=1, tool_denied=2, tool_failed=1)


async def finished(store: RunStore, tenant: str, run_id: str, usage: Usage = TOOLS, **kw: Any) -> RunRecord:
    r = rec(tenant, run_id)
    await store.admit(r, max_concurrent=BIG, max_per_day=BIG, lease=60)
    r.status, r.output, r.steps, r.finished_at = kw.get("status", "completed"), "out", 2, time.time()
    r.error = kw.get("error")
    r.usage = usage
    r.usage_by_agent = {"a": Usage(4, 2, 1, 0.1, tool_calls=3, tool_ms=12.5, tool_denied=2),
                        "b": Usage(6, 3, 1, 0.15, unpriced=1, tool_failed=1)}
    r.models = {"a": "m1", "b": "m2"}
    await store.finish(r)
    return r


async def test_every_backend_subclasses_the_base(store: RunStore) -> None:
    assert isinstance(store, RunStore)


async def test_admitted_run_is_running_with_its_input(store: RunStore) -> None:
    await store.admit(rec("t1", "r1"), max_concurrent=BIG, max_per_day=BIG, lease=60)
    got = await store.get("t1", "r1")
    assert got is not None and (got.status, got.input, got.team, got.finished_at) == ("running", {"q": "r1"},
                                                                                        "team", None)
    assert got.usage == Usage() and got.usage_by_agent == {}


async def test_finish_persists_everything_tool_usage_included(store: RunStore) -> None:
    r = await finished(store, "t1", "r1")
    got = await store.get("t1", "r1")
    assert got is not None and (got.status, got.output, got.steps, got.error) == ("completed", "out", 2, None)
    assert got.finished_at == pytest.approx(r.finished_at)
    assert got.usage == TOOLS
    assert got.usage_by_agent == r.usage_by_agent
    data = got.to_dict()["usage"]
    assert (data["tool_calls"], data["tool_denied"], data["tool_failed"], data["tool_ms"]) == (3, 2, 1, 12.5)
    assert data["total_tokens"] == 15 and data["unpriced_requests"] == 1


async def test_a_failed_run_keeps_its_error(store: RunStore) -> None:
    await finished(store, "t1", "r1", status="failed", error="ToolFailedError: boom")
    got = await store.get("t1", "r1")
    assert got is not None and (got.status, got.error) == ("failed", "ToolFailedError: boom")


async def test_usage_sums_finished_runs_in_total_per_agent_and_per_model(store: RunStore) -> None:
    await finished(store, "t1", "r1")
    await finished(store, "t1", "r2")
    await store.admit(rec("t1", "still-running"), max_concurrent=BIG, max_per_day=BIG, lease=60)
    usage = await store.usage("t1")
    assert usage.runs == 2
    assert usage.total == Usage().add(TOOLS).add(TOOLS)
    assert usage.by_agent["a"] == Usage(8, 4, 2, 0.2, tool_calls=6, tool_ms=25.0, tool_denied=4)
    assert usage.by_model["m2"] == Usage(12, 6, 2, 0.3, unpriced=2, tool_failed=2)
    assert set(usage.by_agent) == {"a", "b"} and set(usage.by_model) == {"m1", "m2"}
    assert usage.to_dict()["total"]["tool_denied"] == 4


async def test_get_list_and_usage_are_tenant_scoped(store: RunStore) -> None:
    for t in ("t1", "t2"):
        for i in range(3):
            await finished(store, t, f"{t}-{i}")
    assert await store.get("t2", "t1-0") is None and await store.get("t1", "nope") is None
    assert {r.run_id for r in await store.list("t1")} == {"t1-0", "t1-1", "t1-2"}
    assert all(r.tenant_id == "t2" for r in await store.list("t2"))
    assert (await store.usage("t2")).runs == 3
    nobody = await store.usage("nobody")
    assert (nobody.runs, nobody.total, nobody.by_agent, nobody.by_model) == (0, Usage(), {}, {})


async def test_list_is_newest_first_and_pages(store: RunStore) -> None:
    for i in range(5):
        await store.admit(rec("t1", f"r{i}"), max_concurrent=BIG, max_per_day=BIG, lease=60)
    assert [r.run_id for r in await store.list("t1")] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.run_id for r in await store.list("t1", limit=2, offset=1)] == ["r3", "r2"]
    assert await store.list("t1", limit=2, offset=5) == []


async def test_finish_refuses_a_run_that_is_not_running_for_its_tenant(store: RunStore) -> None:
    await store.admit(rec("t1", "r1"), max_concurrent=BIG, max_per_day=BIG, lease=60)
    intruder = rec("t2", "r1", status="completed", output="forged", usage=TOOLS,
                   usage_by_agent={"a": TOOLS}, models={"a": "m"})
    with pytest.raises(RunRecordError, match="not running"):
        await store.finish(intruder)  # another tenant's run
    with pytest.raises(RunRecordError, match="not running"):
        await store.finish(rec("t1", "never-admitted", status="completed", usage=TOOLS))
    got = await store.get("t1", "r1")
    assert got is not None and got.status == "running" and got.output is None
    assert (await store.usage("t2")).by_agent == {} and (await store.usage("t1")).runs == 0
    done = await finished(store, "t1", "r2")
    with pytest.raises(RunRecordError):
        await store.finish(done)  # a second finish would count its usage twice
    assert (await store.usage("t1")).runs == 1


async def test_a_taken_run_id_is_refused_and_counts_nothing(store: RunStore) -> None:
    await store.admit(rec("t1", "r1"), max_concurrent=BIG, max_per_day=2, lease=60)
    for tenant in ("t1", "t2"):
        with pytest.raises(RunRecordError, match="'r1' is already taken"):
            await store.admit(rec(tenant, "r1"), max_concurrent=BIG, max_per_day=2, lease=60)
    await store.admit(rec("t1", "r2"), max_concurrent=BIG, max_per_day=2, lease=60)  # the refusals left the day
    assert [r.run_id for r in await store.list("t1")] == ["r2", "r1"] and await store.list("t2") == []


async def test_concurrency_limit_is_atomic(store: RunStore) -> None:
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
    await store.admit(rec("t2", "x"), max_concurrent=5, max_per_day=BIG, lease=60)  # other tenants unaffected


async def test_limits_hold_across_stores_sharing_one_database(store_backend: str, make_store: StoreFactory) -> None:
    if store_backend == "memory":
        pytest.skip("memory:// is one process's state; there is no second store on it")
    stores = [await make_store() for _ in range(3)]
    try:
        async def admit(i: int) -> bool:
            try:
                await stores[i % 3].admit(rec("t1", f"r{i}"), max_concurrent=BIG, max_per_day=7, lease=60)
                return True
            except AdmissionRefused as exc:
                assert exc.limit_type == "runs_per_day"
                return False

        assert sum(await asyncio.gather(*(admit(i) for i in range(21)))) == 7
        assert len(await stores[0].list("t1")) == 7
    finally:
        for s in stores:
            await s.close()
            if isinstance(s, SQLiteRunStore):
                s.db.close()


async def test_finished_runs_free_their_slot_and_count_per_day(store: RunStore) -> None:
    for i in range(3):
        r = rec("t1", f"r{i}")
        await store.admit(r, max_concurrent=1, max_per_day=3, lease=60)
        r.status = "completed"
        await store.finish(r)
    with pytest.raises(AdmissionRefused) as info:
        await store.admit(rec("t1", "r4"), max_concurrent=1, max_per_day=3, lease=60)
    assert (info.value.limit_type, info.value.current, info.value.maximum) == ("runs_per_day", 3, 3)


async def test_live_lease_counts_and_expired_lease_stops_counting(store: RunStore) -> None:
    await store.admit(rec("t1", "live"), max_concurrent=1, max_per_day=BIG, lease=60)
    with pytest.raises(AdmissionRefused):
        await store.admit(rec("t1", "next"), max_concurrent=1, max_per_day=BIG, lease=60)
    # a crashed run whose lease has already run out (no sleeping: load cannot flake this)
    await store.admit(rec("t2", "crashed"), max_concurrent=1, max_per_day=BIG, lease=0.0)
    await store.admit(rec("t2", "next"), max_concurrent=1, max_per_day=BIG, lease=60)
    late = rec("t2", "crashed", status="failed")  # the crashed run may still report in, and is kept
    await store.finish(late)
    got = await store.get("t2", "crashed")
    assert got is not None and got.status == "failed"


async def test_a_run_starts_when_it_is_admitted(store: RunStore) -> None:
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


usages = st.builds(Usage, st.integers(0, 50), st.integers(0, 50), st.integers(0, 3),
                   st.integers(0, 100).map(lambda c: c / 100), st.integers(0, 3), st.integers(0, 500).map(float),
                   st.integers(0, 2), st.integers(0, 2), st.integers(0, 2))
ops = st.lists(st.one_of(st.tuples(st.just("admit"), st.integers(0, 1)),
                         st.tuples(st.just("finish"), st.integers(0, 1), usages),
                         st.tuples(st.just("forge"), st.integers(0, 1), usages)), max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
async def test_limits_usage_and_isolation_hold_for_any_sequence(store: RunStore, script: list[Any]) -> None:
    tenants = [f"p{uuid.uuid4().hex[:8]}" for _ in range(2)]  # fresh per example: the store outlives examples
    running: list[list[RunRecord]] = [[], []]
    admitted: list[set[str]] = [set(), set()]
    totals = [Usage(), Usage()]
    for op in script:
        t = op[1]
        if op[0] == "admit":
            r = rec(tenants[t], uuid.uuid4().hex)
            if len(running[t]) >= 2:
                with pytest.raises(AdmissionRefused):
                    await store.admit(r, max_concurrent=2, max_per_day=BIG, lease=60)
            else:
                await store.admit(r, max_concurrent=2, max_per_day=BIG, lease=60)
                running[t].append(r)
                admitted[t].add(r.run_id)
        elif running[t] and op[0] == "finish":
            r = running[t].pop(0)
            r.status, r.usage, r.usage_by_agent, r.models = "completed", op[2], {"a": op[2]}, {"a": "m"}
            await store.finish(r)
            totals[t].add(op[2])
        elif running[t]:  # the other tenant tries to finish (and bill) this tenant's run
            forged = rec(tenants[1 - t], running[t][0].run_id, status="completed", usage=op[2],
                         usage_by_agent={"a": op[2]})
            with pytest.raises(RunRecordError):
                await store.finish(forged)
    for t in (0, 1):
        usage = await store.usage(tenants[t])
        assert usage.runs == len(admitted[t]) - len(running[t])
        got, want = usage.total.to_dict(), totals[t].to_dict()
        assert got == {**want, "cost": pytest.approx(want["cost"]), "tool_ms": pytest.approx(want["tool_ms"])}
        assert {r.run_id for r in await store.list(tenants[t], limit=100)} == admitted[t]
        assert [await store.get(tenants[1 - t], run_id) for run_id in admitted[t]] == [None] * len(admitted[t])


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


# -- an older database (run-store schema v1) is upgraded in place --------------------------------------------------

V1 = """
CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE team_runs (run_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, team TEXT NOT NULL,
    status TEXT NOT NULL, started_at {real} NOT NULL, lease_until {real} NOT NULL, finished_at {real},
    input_json TEXT NOT NULL, output TEXT, error TEXT, steps INTEGER NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0,
    requests BIGINT NOT NULL DEFAULT 0, cost {real} NOT NULL DEFAULT 0);
CREATE INDEX team_runs_tenant_status ON team_runs (tenant_id, status);
CREATE INDEX team_runs_tenant_started ON team_runs (tenant_id, started_at);
CREATE TABLE team_run_usage (run_id TEXT NOT NULL, tenant_id TEXT NOT NULL,
    agent TEXT NOT NULL, model TEXT NOT NULL, prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,
    requests BIGINT NOT NULL, cost {real} NOT NULL, PRIMARY KEY (run_id, agent));
CREATE INDEX team_run_usage_tenant ON team_run_usage (tenant_id);
CREATE TABLE team_daily_runs (tenant_id TEXT NOT NULL, day TEXT NOT NULL,
    runs INTEGER NOT NULL, PRIMARY KEY (tenant_id, day));
INSERT INTO schema_version VALUES ('team_runs', 1);
INSERT INTO team_runs VALUES ('old', 'acme', 'team', 'completed', 100.0, 200.0, 150.0, '{{"q": "x"}}', 'answer',
    NULL, 2, 30, 7, 2, 0.5);
INSERT INTO team_runs (run_id, tenant_id, team, status, started_at, lease_until, input_json)
    VALUES ('open', 'acme', 'team', 'running', 160.0, 9999999999.0, '{{}}');
INSERT INTO team_run_usage VALUES ('old', 'acme', 'triage', 'gpt', 30, 7, 2, 0.5);
INSERT INTO team_daily_runs VALUES ('acme', '1970-01-01', 2);
"""


@pytest.fixture
async def old_store(store_backend: str, backend_pg_pool: Any, tmp_path: Path) -> AsyncIterator[RunStore]:
    """A run store opened by the new code on a database that an llmteam with run-store schema v1 wrote."""
    if store_backend == "memory":
        pytest.skip("memory:// has no schema to upgrade")
    if store_backend == "sqlite":
        path = tmp_path / "old.db"
        with sqlite3.connect(path) as conn:
            conn.executescript(V1.format(real="REAL"))
        conn.close()
        s: RunStore = SQLiteRunStore(str(path))
    else:
        async with backend_pg_pool.acquire() as conn:
            await conn.execute(V1.format(real="DOUBLE PRECISION"))
        s = PostgresRunStore(backend_pg_pool)
    yield s
    await s.close()


async def test_an_old_database_is_upgraded_in_place_and_keeps_everything(old_store: RunStore) -> None:
    old = await old_store.get("acme", "old")
    assert old is not None and (old.status, old.output, old.steps, old.input) == ("completed", "answer", 2,
                                                                                   {"q": "x"})
    assert old.usage == Usage(30, 7, 2, 0.5) and old.usage_by_agent == {"triage": Usage(30, 7, 2, 0.5)}
    usage = await old_store.usage("acme")
    assert (usage.runs, usage.total, usage.by_model) == (1, Usage(30, 7, 2, 0.5), {"gpt": Usage(30, 7, 2, 0.5)})
    with pytest.raises(AdmissionRefused, match="concurrent_pipelines"):  # the old live run still counts
        await old_store.admit(rec("acme", "new"), max_concurrent=1, max_per_day=BIG, lease=60)
    # the run a process left open before the upgrade still finishes, now with its tool usage
    running = rec("acme", "open", status="completed", usage=TOOLS, usage_by_agent={"clerk": TOOLS},
                  models={"clerk": "m"})
    await old_store.finish(running)
    assert (await old_store.usage("acme")).total == Usage().add(Usage(30, 7, 2, 0.5)).add(TOOLS)
    got = await old_store.get("acme", "open")
    assert got is not None and got.usage_by_agent == {"clerk": TOOLS}
    await old_store.admit(rec("acme", "new"), max_concurrent=1, max_per_day=BIG, lease=60)
