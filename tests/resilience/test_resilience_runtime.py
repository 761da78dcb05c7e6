"""A TeamRuntime on PostgreSQL (stores) and Redis (rate limits) while both servers restart under load: runs fail
with a clear llmteam error or succeed, none hangs, acknowledged runs keep their audit records, and the same
runtime serves runs again once the servers are back (no reopening)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from llmteam._backends.postgres import StoreConnectionError
from llmteam.audit import AuditError, AuditEventType, AuditQuery
from llmteam.llm import ScriptedLLM
from llmteam.ratelimit import RateLimitError
from llmteam.team import Agent, Team, TeamError
from llmteam.tenancy import TenantConfig, TenantError, TenantTier

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration, pytest.mark.timeout(600)]
HANG_GUARD = 60.0  # no single run may take longer: a hang guard, not a timing assertion
CLEAR_ERRORS = (TeamError, AuditError, TenantError, RateLimitError, StoreConnectionError)


async def until(predicate: Any) -> None:
    async with asyncio.timeout(HANG_GUARD * 2):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("victim", ["postgres", "redis"])
async def test_runtime_recovers_after_a_server_restart(victim: str, postgres_server: Any, redis_server: Any) -> None:
    team = Team("res", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="job {job}")])
    server = postgres_server if victim == "postgres" else redis_server
    seen: Counter[str] = Counter()
    errors: list[BaseException] = []
    completed: list[str] = []
    stop = asyncio.Event()
    async with team.runtime(postgres_server.url, redis_url=redis_server.url, auto_create_tenant=None) as rt:
        await rt.tenants.create_tenant(
            TenantConfig(
                "acme",
                "Acme",
                tier=TenantTier.ENTERPRISE,
                max_concurrent_pipelines=1000,
                max_requests_per_minute=1_000_000,
            )
        )

        async def runner(w: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    async with asyncio.timeout(HANG_GUARD):
                        result = await rt.run({"job": f"{w}-{i}"}, tenant="acme")
                    completed.append(result.run_id)
                    seen["ok"] += 1
                except CLEAR_ERRORS as exc:
                    seen["failed"] += 1
                    errors.append(exc)
                    await asyncio.sleep(0.02)

        runners = [asyncio.create_task(runner(w)) for w in range(4)]
        try:
            await until(lambda: seen["ok"] >= 20)
            await asyncio.to_thread(server.stop)
            await until(lambda: seen["failed"] >= 5)
            await asyncio.to_thread(server.start)
            ok_after_restart = seen["ok"]
            await until(lambda: seen["ok"] >= ok_after_restart + 20)
        finally:
            stop.set()
            await asyncio.gather(*runners)  # an unexpected error type or a hang re-raises here
        assert seen["failed"] >= 5 and all(f"127.0.0.1:{server.port}" in str(e) for e in errors), errors[:3]
        async with rt.tenants.context("acme"):
            valid, broken = await rt.audit.verify_chain()
            assert (valid, broken) == (True, [])
            records = await rt.audit.query(AuditQuery(limit=100_000))
        audited = {r.run_id for r in records if r.event_type is AuditEventType.PIPELINE_COMPLETED}
        assert set(completed) <= audited  # every run acknowledged as completed is in the audit chain
