"""``llmteam worker`` under SIGKILL: every run completes exactly once, no model call repeats, chains stay whole."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.durable import DurableRuntime
from llmteam.team import load_team
from llmteam.tenancy import TenantConfig, TenantTier

from .._support.chat_server import ChatServer
from .conftest import Worker

RUNS = 6
KILLS = 3


async def _progress_or_done(chat: ChatServer, seen: int, rt: DurableRuntime, ids: list[str]) -> bool:
    """Wait until the model sees a new request (True) or every run has finished (False)."""
    for _ in range(3000):  # hang guard only (~60 s); the test asserts behaviour, never time
        if chat.total() > seen:
            return True
        if all(s.status in ("SUCCESS", "ERROR") for s in [await rt.status(i) for i in ids]):
            return False
        await asyncio.sleep(0.02)
    raise AssertionError("no model request and no finished run for a minute")


@pytest.mark.timeout(300)
async def test_sigkilled_worker_completes_every_run_exactly_once(chat: ChatServer, team_file: Path, db: str) -> None:
    rng = random.Random(15)
    worker = Worker(team_file, db, extra=("--concurrency", "1"))  # one run at a time: one model call in flight
    kills = 0
    async with DurableRuntime(load_team(team_file), db, serve=False, concurrency=1) as rt:
        ids = [await rt.submit({"query": f"case {i}"}, tenant=f"t{i % 2}", run_id=f"run-{i}") for i in range(RUNS)]
        worker.start()
        try:
            for _ in range(KILLS):
                if not await _progress_or_done(chat, chat.total(), rt, ids):
                    break
                await asyncio.sleep(rng.uniform(0.0, 0.45))  # lands in a model call, between steps or in a write
                worker.kill()
                kills += 1
                worker.start()
            results = [await rt.result(i, timeout=240) for i in ids]
        finally:
            worker.stop()

        assert kills >= 1
        await assert_exactly_once(rt, chat, results, kills, RUNS)


def expected_run(i: int, agents: int = 2) -> tuple[list[str], str]:
    """(the prompts run ``case i`` sends the counting model, its final output) for the first ``agents`` agents."""
    text, prompts = f"case {i}", []
    for template in ("First: {}", "Second: {}")[:agents]:
        prompts.append(template.format(text))
        text = f"re: {prompts[-1]}"
    return prompts, text


async def assert_exactly_once(rt: DurableRuntime, chat: ChatServer, results: list[Any], kills: int,
                              runs: int, agents: int = 2) -> None:
    """Each run answered once, one model call per completed step (+``kills`` at most), no duplicate records."""
    expected: set[str] = set()
    for i, result in enumerate(results):
        prompts, output = expected_run(i, agents)
        expected.update(prompts)
        assert result.output == output
        assert [s.agent for s in result.steps] == ["first", "second"][:agents]
    assert set(chat.calls) == expected
    assert agents * runs <= chat.total() <= agents * runs + kills, chat.calls
    core = rt.runtime
    for tenant in sorted({r.tenant_id for r in results}):
        assert await core.verify_audit(tenant) == (True, [])
        mine = [r for r in results if r.tenant_id == tenant]
        usage = await core.usage(tenant)
        assert usage.total.requests == sum(s.usage.requests for r in mine for s in r.steps) == agents * len(mine)
        async with core.tenants.context(tenant):
            for r in mine:
                records = await core.audit.query(AuditQuery(run_id=r.run_id, limit=1000))
                kinds = Counter((rec.event_type, rec.step_name or None) for rec in records)
                assert kinds == Counter({
                    (AuditEventType.PIPELINE_STARTED, None): 1,
                    **{(AuditEventType.AGENT_COMPLETED, str(n)): 1 for n in range(1, agents + 1)},
                    (AuditEventType.PIPELINE_COMPLETED, None): 1,
                }), kinds
                events = [e async for e in core.event_log.iterate(tenant_id=tenant, case_id=r.run_id)]
                assert Counter(e.lifecycle for e in events) == Counter({"start": agents, "complete": agents,
                                                                        "wait": 1})
                assert [e.activity for e in events if e.lifecycle == "wait"] == ["wait:queue"]
                record = await core.get_run(r.run_id, tenant)
                assert record is not None and record.status == "completed" and record.steps == agents


@pytest.mark.timeout(300)
async def test_a_live_worker_adopts_a_dead_workers_runs(chat: ChatServer, team_file: Path, db: str) -> None:
    dead = Worker(team_file, db, executor_id="dead", extra=("--concurrency", "1"))
    live = Worker(team_file, db, executor_id="live", extra=("--adopt", "dead"))
    async with DurableRuntime(load_team(team_file), db, serve=False) as rt:
        ids = [await rt.submit({"query": f"case {i}"}, tenant="t0", run_id=f"run-{i}") for i in range(3)]
        dead.start()
        try:
            assert await _progress_or_done(chat, 0, rt, ids)
            dead.kill()  # mid-run: its run is PENDING under executor "dead", which never comes back
            before = [await rt.status(i) for i in ids]
            pending = [s.run_id for s in before if s.status == "PENDING"]
            assert pending and all(s.executor == "dead" for s in before if s.status == "PENDING")
            live.start()
            results = [await rt.result(i, timeout=240) for i in ids]
        finally:
            dead.stop()
            live.stop()
        after = [await rt.status(i) for i in pending]
        assert all(s.executor == "live" for s in after)
        await assert_exactly_once(rt, chat, results, 1, 3)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_concurrency_caps_queues_created_after_the_worker_started(
        chat: ChatServer, team_file: Path, db: str) -> None:
    worker = Worker(team_file, db, executor_id=None, extra=("--concurrency", "1", "--heartbeat", "0.2",
                                                           "--dead-after", "2"))
    worker.start()  # on a fresh database: no queue exists yet
    try:
        async with DurableRuntime(load_team(team_file), db, serve=False) as rt:
            core = rt.runtime
            for tenant in ("a", "b", "c"):  # three partitions that could each run at once
                await core.tenants.create_tenant(TenantConfig(tenant, tenant, tier=TenantTier.PROFESSIONAL))
            ids = [await rt.submit({"query": "case 0"}, tenant="a", run_id="run-0")]  # creates the queue, uncapped
            for _ in range(3000):  # hang guard: the worker caps the new queue at its next heartbeat
                if [q.worker_concurrency for q in await rt.client.list_queues_async()] == [1]:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the worker never capped the queue created after it started")
            ids += [await rt.submit({"query": f"case {i}"}, tenant="abc"[i], run_id=f"run-{i}") for i in (1, 2)]
            results = [await rt.result(i, timeout=240) for i in ids]
            records = [await core.get_run(r.run_id, r.tenant_id) for r in results]
            spans = sorted((r.started_at, r.finished_at or 0.0) for r in records if r is not None)
            assert len(spans) == 3
            assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), spans  # one at a time
    finally:
        worker.stop()
