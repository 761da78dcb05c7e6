"""DurableRuntime: submit returns at once, result/run/status/list/cancel/resume, per-tenant queue concurrency."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from llmteam.durable import DurableError, DurableRuntime, RunFailedError, system_db_for
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team
from llmteam.tenancy import TenantConfig, TenantTier


def make_team(delay: float = 0.0, name: str = "pair") -> Team:
    llm = ScriptedLLM({"Classify": "billing"}, default="done", delay=delay)
    return Team(name, llm=llm, agents=[Agent("triage", prompt="Classify: {query}"),
                                       Agent("answer", prompt="Reply to {query} as {triage}")])


def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/runs.db"


async def test_submit_returns_an_id_and_result_is_the_audited_run(tmp_path: Path) -> None:
    async with DurableRuntime(make_team(), url(tmp_path), tenant="acme") as rt:
        run_id = await rt.submit({"query": "invoice"}, run_id="r-1")
        assert run_id == "r-1"
        result = await rt.result(run_id, timeout=60)
        assert (result.run_id, result.output, result.outputs["triage"]) == ("r-1", "done", "billing")
        assert result.usage.requests == 2
        assert await rt.runtime.verify_audit("acme") == (True, [])
        status = await rt.status(run_id)
        # a FREE tenant: 1 run at once, 10 started a minute
        assert (status.status, status.tenant, status.queue) == ("SUCCESS", "acme", "llmteam_runs_c1_r10")
        assert [s.run_id for s in await rt.list()] == ["r-1"]
        again = await rt.run({"query": "other"}, timeout=60)  # run = submit and wait
        assert again.run_id != run_id and again.output == "done"


async def test_bad_input_run_id_and_unknown_runs_fail_clearly(tmp_path: Path) -> None:
    async with DurableRuntime(make_team(), url(tmp_path), tenant="acme") as rt:
        with pytest.raises(DurableError, match="run id '../x' must be"):
            await rt.submit({"query": "q"}, run_id="../x")
        with pytest.raises(Exception, match="prompt variable|query"):
            await rt.submit({})
        with pytest.raises(DurableError, match="no durable run 'nope'"):
            await rt.status("nope")
        with pytest.raises(DurableError, match="run 'nope'"):
            await rt.result("nope", timeout=5)
        with pytest.raises(DurableError, match="no tenant given"):
            await DurableRuntime(make_team(), url(tmp_path)).submit({"query": "q"})


async def test_a_failing_run_raises_run_failed_with_the_original_error(tmp_path: Path) -> None:
    team = Team("broken", llm=ScriptedLLM(default="x"), agents=[Agent("a", prompt="Use {b}"),
                                                                Agent("b", prompt="Answer {query}")])
    async with DurableRuntime(team, url(tmp_path), tenant="acme") as rt:
        run_id = await rt.submit({"query": "q"})
        with pytest.raises(RunFailedError, match="PromptVariableError"):
            await rt.result(run_id, timeout=60)
        status = await rt.status(run_id)  # review, 2026-11-29: its error was always None (the server said 422 "")
        assert status.status == "ERROR" and status.error is not None and "PromptVariableError" in status.error
        record = await rt.runtime.get_run(run_id)
        assert record is not None and record.status == "failed"
        assert await rt.runtime.verify_audit() == (True, [])


async def test_cancel_before_start_then_resume_on_a_worker(tmp_path: Path) -> None:
    team = make_team()
    async with DurableRuntime(team, url(tmp_path), tenant="acme", serve=False) as client:
        run_id = await client.submit({"query": "later"})
        await client.cancel(run_id)
        assert (await client.status(run_id)).status == "CANCELLED"
        async with DurableRuntime(team, url(tmp_path), tenant="acme") as worker:
            await asyncio.sleep(0.5)  # a serving worker leaves a cancelled run alone (checked below, not timed)
            assert (await worker.status(run_id)).status == "CANCELLED"
            await client.resume(run_id)
            assert (await worker.result(run_id, timeout=60)).output == "done"


async def test_per_tenant_concurrency_is_never_exceeded(tmp_path: Path) -> None:
    team = make_team(delay=0.05)
    async with DurableRuntime(team, url(tmp_path)) as rt:
        await rt.runtime.tenants.create_tenant(TenantConfig("busy", "busy", tier=TenantTier.PROFESSIONAL,
                                                            max_concurrent_pipelines=2))
        await rt.runtime.tenants.create_tenant(TenantConfig("solo", "solo", tier=TenantTier.PROFESSIONAL,
                                                            max_concurrent_pipelines=1))
        ids = [await rt.submit({"query": f"q{i}"}, tenant=t) for i in range(6) for t in ("busy", "solo")]
        for run_id in ids:
            await rt.result(run_id, timeout=120)
        for tenant, limit in (("busy", 2), ("solo", 1)):
            runs = await rt.runtime.runs(tenant)
            assert len(runs) == 6 and all(r.finished_at is not None for r in runs)
            edges = sorted([(r.started_at, 1) for r in runs] + [(r.finished_at or 0.0, -1) for r in runs])
            running = peak = 0
            for _, delta in edges:  # an end sorts before a start at the same instant
                running += delta
                peak = max(peak, running)
            assert peak <= limit, (tenant, peak)


async def test_the_loop_keeps_working_after_a_durable_runtime_closes(tmp_path: Path) -> None:
    async with DurableRuntime(make_team(), url(tmp_path), tenant="acme") as rt:
        await rt.run({"query": "one"}, timeout=60)
    assert await asyncio.to_thread(lambda: 42) == 42  # DBOS shut down its pool, which it had made the default
    async with make_team().runtime(f"sqlite:///{tmp_path}/plain.db", tenant="acme") as plain:
        assert (await plain.run({"query": "two"})).output == "done"
    async with DurableRuntime(make_team(), url(tmp_path), tenant="acme") as again:  # and DBOS launches again
        assert (await again.run({"query": "three"}, timeout=60)).output == "done"


async def test_durable_runs_on_postgresql(pg_schema_url: str, postgres_url: str, unique_name: str) -> None:
    import asyncpg

    try:
        async with DurableRuntime(make_team(), pg_schema_url, tenant="acme",
                                  system_schema=f"{unique_name}_dbos") as rt:
            results = await asyncio.gather(*[rt.run({"query": f"q{i}"}, timeout=120) for i in range(3)])
            assert [r.output for r in results] == ["done"] * 3
            assert await rt.runtime.verify_audit() == (True, [])
            assert {s.status for s in await rt.list()} == {"SUCCESS"}
    finally:  # DBOS's tables live in a schema of their own, dropped once DBOS is shut down
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{unique_name}_dbos" CASCADE')
        finally:
            await admin.close()


def test_system_db_sits_beside_the_store() -> None:
    assert system_db_for("sqlite:///a/b.db") == "sqlite:///a/b.dbos.db"
    assert system_db_for("postgresql://u@h/d?search_path=s") == "postgresql://u@h/d"
    with pytest.raises(DurableError, match="invalid system schema 'Bad-Name'"):
        DurableRuntime(make_team(), "sqlite:///x.db", system_schema="Bad-Name")
    with pytest.raises(DurableError, match="need a database"):
        system_db_for("memory://")


def solo(delay: float, name: str) -> Team:
    return Team(name, llm=ScriptedLLM(default="done", delay=delay), agents=[Agent("a", prompt="Answer {query}")])


async def test_each_tenant_partition_starts_at_most_its_tiers_runs_per_minute(tmp_path: Path) -> None:
    async with DurableRuntime(solo(0.0, "rated"), url(tmp_path)) as rt:
        tenants = rt.runtime.tenants
        await tenants.create_tenant(TenantConfig("flood", "flood", tier=TenantTier.PROFESSIONAL,
                                                 max_concurrent_pipelines=5, max_requests_per_minute=2))
        await tenants.create_tenant(TenantConfig("calm", "calm", tier=TenantTier.PROFESSIONAL))
        flood = [await rt.submit({"query": f"f{i}"}, tenant="flood") for i in range(6)]
        calm = [await rt.submit({"query": f"c{i}"}, tenant="calm") for i in range(3)]
        for run_id in calm:  # the calm tenant is not held back by the flood's rate limit
            await rt.result(run_id, timeout=120)
        assert (await rt.status(flood[0])).queue == "llmteam_runs_c5_r2"
        for _ in range(1500):  # hang guard: wait until the flood's first two runs (its budget) are done
            if len(await rt.runtime.runs("flood")) >= 2:
                break
            await asyncio.sleep(0.02)
        starts = sorted(r.started_at for r in await rt.runtime.runs("flood"))
        assert len(starts) >= 2
        assert all(b - a >= 60.0 for a, b in zip(starts, starts[2:], strict=False)), starts  # <= 2 in any minute
        for run_id in flood:
            await rt.cancel(run_id)


async def test_a_flooding_tenant_never_delays_another_beyond_one_run(tmp_path: Path) -> None:
    async with DurableRuntime(solo(1.0, "flooded"), url(tmp_path)) as rt:
        tenants = rt.runtime.tenants
        for tenant in ("flood", "calm"):
            await tenants.create_tenant(TenantConfig(tenant, tenant, tier=TenantTier.PROFESSIONAL,
                                                     max_concurrent_pipelines=1))
        flood = [await rt.submit({"query": f"f{i}"}, tenant="flood") for i in range(8)]
        for _ in range(1500):  # hang guard: the flood is running
            if await rt.runtime.runs("flood"):
                break
            await asyncio.sleep(0.02)
        submitted: dict[str, float] = {}
        for i in range(2):
            submitted[await rt.submit({"query": f"c{i}"}, tenant="calm")] = time.time()
            await rt.result(list(submitted)[-1], timeout=120)
        flood_starts = [r.started_at for r in await rt.runtime.runs("flood")]
        for run_id, at in submitted.items():
            record = await rt.runtime.get_run(run_id, "calm")
            assert record is not None
            overtaking = [s for s in flood_starts if at < s < record.started_at]
            assert len(overtaking) <= 1, (overtaking, at, record.started_at)  # waited one flood run at most
        for run_id in flood:
            await rt.cancel(run_id)


async def test_an_id_already_used_by_another_tenant_or_input_is_refused_not_handed_over(tmp_path: Path) -> None:
    # review, 2026-11-29: globex submitting acme's run id got acme's run, its status and its output
    async with DurableRuntime(make_team(), url(tmp_path), tenant="acme") as rt:
        assert await rt.submit({"query": "ACME SECRET invoice"}, tenant="acme", run_id="order-1") == "order-1"
        assert await rt.submit({"query": "ACME SECRET invoice"}, tenant="acme", run_id="order-1") == "order-1"
        with pytest.raises(DurableError, match="run id 'order-1' is already used by another run"):
            await rt.submit({"query": "globex question"}, tenant="globex", run_id="order-1")
        with pytest.raises(DurableError, match="run id 'order-1' is already used by another run"):
            await rt.submit({"query": "other input"}, tenant="acme", run_id="order-1")
        result = await rt.result("order-1", timeout=60)
        assert result.tenant_id == "acme" and (await rt.status("order-1")).tenant == "acme"
