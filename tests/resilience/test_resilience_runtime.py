"""A TeamRuntime on PostgreSQL (stores) and Redis (rate limits) while both servers restart under load: runs fail
with a clear llmteam error or succeed, none hangs, acknowledged runs keep their audit records, and the same
runtime serves runs again once the servers are back (no reopening)."""

from __future__ import annotations

import pytest

from llmteam.audit import AuditError, AuditEventType, AuditQuery
from llmteam.backends.postgres import StoreConnectionError
from llmteam.llm import ScriptedLLM
from llmteam.ratelimit import RateLimitError
from llmteam.team import Agent, Team, TeamError
from llmteam.tenancy import TenantConfig, TenantError, TenantTier

from .conftest import PostgresServer, RedisServer, restart_under_load

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration, pytest.mark.timeout(600)]
CLEAR_ERRORS = (TeamError, AuditError, TenantError, RateLimitError, StoreConnectionError)


@pytest.mark.parametrize("victim", ["postgres", "redis"])
async def test_runtime_recovers_after_a_server_restart(
    victim: str, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    team = Team("res", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="job {job}")])
    server: PostgresServer | RedisServer = postgres_server if victim == "postgres" else redis_server
    completed: list[str] = []
    tenant = f"acme{victim}"  # one cluster serves the whole file: a tenant of its own per test
    async with team.runtime(postgres_server.url, redis_url=redis_server.url, auto_create_tenant=None) as rt:
        await rt.tenants.create_tenant(
            TenantConfig(
                tenant,
                "Acme",
                tier=TenantTier.ENTERPRISE,
                max_concurrent_pipelines=1000,
                max_requests_per_minute=1_000_000,
            )
        )

        async def call(worker: int, iteration: int) -> None:
            completed.append((await rt.run({"job": f"{worker}-{iteration}"}, tenant=tenant)).run_id)

        errors = await restart_under_load(server, call, expected=CLEAR_ERRORS, tasks=4, ok=20, failed=5)
        assert all(f"127.0.0.1:{server.port}" in str(e) for e in errors), errors[:3]
        async with rt.tenants.context(tenant):
            valid, broken = await rt.audit.verify_chain()
            assert (valid, broken) == (True, [])
            records = await rt.audit.query(AuditQuery(limit=100_000))
        audited = {r.run_id for r in records if r.event_type is AuditEventType.PIPELINE_COMPLETED}
        assert set(completed) <= audited  # every run acknowledged as completed is in the audit chain
