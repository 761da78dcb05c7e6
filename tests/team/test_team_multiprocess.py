"""Three worker processes sharing one PostgreSQL database and one Redis keep limits, audit chains and isolation.

Real servers (fixtures ``pg_schema_url`` and ``redis_url``); each worker is a fresh interpreter running the
same team against the same URLs, like three machines would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team
from llmteam.tenancy import TenantConfig, TenantTier

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration]

WORKER = textwrap.dedent('''
    import asyncio, json, sys
    from llmteam.llm import ScriptedLLM
    from llmteam.ratelimit import RateLimitExceeded, RateLimitStrategy
    from llmteam.team import Agent, Team
    from llmteam.tenancy import TenantLimitExceededError

    url, redis_url, worker, prefix = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    team = Team("mp", llm=ScriptedLLM(default="ok", delay=0.03), agents=[Agent("a", prompt="job {job}")])

    async def main():
        out = {}
        async with team.runtime(url, redis_url=redis_url, auto_create_tenant=None,
                                rate_limit_strategy=RateLimitStrategy.REJECT) as rt:
            async def one(tenant, i):
                try:
                    r = await rt.run({"job": f"{tenant}-{worker}-{i}"}, tenant=tenant)
                    assert r.tenant_id == tenant and r.output == "ok"
                    return "ok"
                except TenantLimitExceededError as exc:
                    return exc.limit_type
                except RateLimitExceeded:
                    return "rate"
            for tenant, n in ((prefix + "daily", 40), (prefix + "conc", 8), (prefix + "rate", 20)):
                results = await asyncio.gather(*(one(tenant, i) for i in range(n)))
                out[tenant] = {k: results.count(k) for k in set(results)}
        print(json.dumps(out))

    asyncio.run(main())
''')


async def test_three_workers_share_limits_audit_and_isolation(
    pg_schema_url: str, redis_url: str, tmp_path: Path
) -> None:
    prefix = f"mp{uuid.uuid4().hex[:8]}_"  # fresh Redis keys for this test
    daily, conc, rate = prefix + "daily", prefix + "conc", prefix + "rate"
    team = Team("mp", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="job {job}")])
    async with team.runtime(pg_schema_url, auto_create_tenant=None) as rt:
        # FREE: 100 runs per day; the overrides lift its concurrency and request caps out of the way
        await rt.tenants.create_tenant(TenantConfig(daily, "D", tier=TenantTier.FREE, max_concurrent_pipelines=1000,
                                                    max_requests_per_minute=1_000_000))
        await rt.tenants.create_tenant(TenantConfig(conc, "C", tier=TenantTier.ENTERPRISE,
                                                    max_concurrent_pipelines=2))
        await rt.tenants.create_tenant(TenantConfig(rate, "R", tier=TenantTier.ENTERPRISE,
                                                    max_requests_per_minute=30))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), pg_schema_url, redis_url, str(w), prefix],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(3)]
    outputs: list[dict[str, dict[str, int]]] = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))

    def total(tenant: str, key: str) -> int:
        return sum(o[tenant].get(key, 0) for o in outputs)

    assert total(daily, "ok") == 100 and total(daily, "runs_per_day") == 20
    assert total(conc, "ok") >= 2 and total(conc, "ok") + total(conc, "concurrent_pipelines") == 24
    assert 1 <= total(rate, "ok") <= 30 and total(rate, "ok") + total(rate, "rate") == 60

    async with team.runtime(pg_schema_url, auto_create_tenant=None) as rt:
        # concurrency: never more than 2 runs of `conc` overlapped in time, across all three processes
        runs = await rt.runs(conc, limit=1000)
        spans = sorted((r.started_at, r.finished_at or r.started_at) for r in runs)
        points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        level = peak = 0
        for _, delta in points:
            level += delta
            peak = max(peak, level)
        assert peak <= 2 and len(runs) == total(conc, "ok")
        for tenant in (daily, conc, rate):
            ok = total(tenant, "ok")
            refused = sum(v for k, v in (kv for o in outputs for kv in o[tenant].items()) if k != "ok")
            async with rt.tenants.context(tenant):
                valid, missing = await rt.audit.verify_chain()
                assert (valid, missing) == (True, [])
                records = await rt.audit.query(AuditQuery(limit=10_000))
            assert {r.tenant_id for r in records} == {tenant}
            completed = [r for r in records if r.event_type is AuditEventType.PIPELINE_COMPLETED]
            failed = [r for r in records if r.event_type is AuditEventType.PIPELINE_FAILED]
            assert len(completed) == ok and len(failed) == refused
            run_ids = {r.run_id for r in await rt.runs(tenant, limit=1000) if r.status == "completed"}
            assert {r.run_id for r in completed} == run_ids
            cases = {e.case_id async for e in rt.event_log.iterate(tenant_id=tenant)}
            assert run_ids <= cases
            assert (await rt.usage(tenant)).runs == len(await rt.runs(tenant, limit=1000))
