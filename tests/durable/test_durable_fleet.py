"""A fleet on PostgreSQL: three worker processes, 200 runs of 10 tenants, one worker killed with SIGKILL mid-run.

Its runs finish on the others (found dead by heartbeat, handed over through DBOS recovery); no tenant ever has
more runs in flight than its limit (from the recorded start/end of every run); usage totals equal the sum over
steps; every tenant's audit chain verifies with no duplicate step records. Hang guards only, no timing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llmteam.durable import DurableRuntime, RunStatus
from llmteam.team import RunRecord, load_team
from llmteam.tenancy import TenantConfig, TenantTier

from .._support.chat_server import ChatServer
from .conftest import SOLO_YAML, Worker
from .test_durable_worker import assert_exactly_once

RUNS = 200
TENANTS = 10
WORKERS = 3


def peak_in_flight(runs: list[RunRecord]) -> int:
    """The most runs of one tenant between their start and their end at any instant (an end sorts first)."""
    edges = sorted([(r.started_at, 1) for r in runs] + [(r.finished_at or float("inf"), -1) for r in runs])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


async def wait_all(rt: DurableRuntime, ids: set[str], until: Any, workers: list[Worker]) -> list[RunStatus]:
    """Poll the run list (one query for all runs) until ``until(statuses)``; hang guard ~3 minutes."""
    for _ in range(900):
        found = [s for s in await rt.list(limit=RUNS + 50) if s.run_id in ids]
        if until(found):
            return found
        await asyncio.sleep(0.2)
    pending = Counter(s.executor for s in found if s.status == "PENDING")
    alive = {w.name: w.proc.poll() if w.proc else None for w in workers}
    tails = {w.name: w.errors()[-1500:] for w in workers}
    raise AssertionError(f"fleet stuck: {Counter(s.status for s in found)}; pending by executor {pending}; "
                         f"exit codes {alive}; stderr {tails}")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
async def test_a_fleet_finishes_every_run_when_one_worker_is_killed(
        chat: ChatServer, tmp_path: Path, pg_schema_url: str, postgres_url: str, unique_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg

    monkeypatch.setenv("LLMTEAM_API_KEY", "test-key")
    chat.delay = 0.02
    team_file = tmp_path / "team.yaml"
    team_file.write_text(SOLO_YAML.format(base_url=chat.base_url), encoding="utf-8")  # one agent: a short run
    schema = f"{unique_name}_dbos"
    options = ("--system-db", postgres_url, "--system-schema", schema, "--heartbeat", "0.5", "--dead-after", "6")
    workers = [Worker(team_file, pg_schema_url, executor_id=None, extra=options) for _ in range(WORKERS)]
    limits = {f"t{i}": 1 + i % 3 for i in range(TENANTS)}
    try:
        async with DurableRuntime(load_team(team_file), pg_schema_url, system_db=postgres_url,
                                  system_schema=schema, serve=False) as rt:
            for tenant, limit in limits.items():
                await rt.runtime.tenants.create_tenant(TenantConfig(tenant, tenant, tier=TenantTier.PROFESSIONAL,
                                                                    max_concurrent_pipelines=limit))
            for w in workers:
                w.launch()
            ids = []
            for batch in range(0, RUNS, 20):
                ids += await asyncio.gather(*[rt.submit({"query": f"case {i}"}, tenant=f"t{i % TENANTS}",
                                                        run_id=f"run-{i}") for i in range(batch, batch + 20)])
            for w in workers:
                w.wait_ready()
            try:
                by_name = {w.name: w for w in workers}
                # kill the worker holding the most runs in flight, once a tenth of the runs are done
                found = await wait_all(rt, set(ids), lambda s: sum(x.status == "SUCCESS" for x in s) >= RUNS // 10
                                       and any(x.status == "PENDING" for x in s), workers)
                holding = Counter(s.executor for s in found if s.status == "PENDING" and s.executor in by_name)
                doomed = by_name[holding.most_common(1)[0][0]]
                doomed.kill()
                pending = {s.run_id for s in await rt.list(limit=RUNS + 50)
                           if s.status == "PENDING" and s.executor == doomed.name}
                assert pending  # it died mid-run: these runs are PENDING under a worker that will never return
                done = await wait_all(rt, set(ids), lambda s: len(s) == RUNS and all(
                    x.status in ("SUCCESS", "ERROR") for x in s), workers)
            finally:
                for w in workers:
                    w.stop()
            assert Counter(s.status for s in done) == {"SUCCESS": RUNS}, [s for s in done if s.status != "SUCCESS"]
            assert all(s.executor != doomed.name for s in done if s.run_id in pending)  # finished on the others
            results = [await rt.result(i) for i in ids]
            for run_id in sorted(pending)[:3] + [next(i for i in ids if i not in pending)]:
                kinds = [e.kind async for e in rt.stream(run_id, timeout=60)]  # replayed from PostgreSQL
                # the events between steps are checkpointed: a run resumed elsewhere does not repeat them
                assert [k for k in kinds if k != "token"] == ["step_started", "step_finished", "run_finished"]
            for tenant, limit in limits.items():
                records = await rt.runtime.runs(tenant, limit=RUNS)
                assert len(records) == RUNS // TENANTS
                assert peak_in_flight(records) <= limit, tenant
                usage = await rt.runtime.usage(tenant)
                steps = [s.usage for r in results if r.tenant_id == tenant for s in r.steps]
                assert usage.total.total_tokens == sum(u.total_tokens for u in steps) == 8 * len(steps)
            # one model call per completed step, plus at most the calls in flight on the killed worker
            await assert_exactly_once(rt, chat, results, len(pending), RUNS, agents=1)
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await admin.close()
