"""100 concurrent runs across 10 tenants on one runtime: no output, context, audit record or usage crosses tenants."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import AuditQuery
from llmteam.llm import Completion, Message, TokenUsage
from llmteam.team import Agent, Team, Usage
from llmteam.tenancy import TenantConfig, TenantTier


class EchoLLM:
    """Answers with the prompt it got, after a random pause, so runs interleave and leaks would show."""

    model = "echo"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    async def generate(self, prompt: str) -> str:
        return (await self.complete([{"role": "user", "content": prompt}])).text

    async def complete(self, messages: list[Message], **options: Any) -> Completion:
        await asyncio.sleep(self.rng.random() * 0.004)
        text = messages[-1]["content"]
        return Completion(f"seen[{text}]", TokenUsage(len(text), len(text) // 2), self.model)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_hundred_concurrent_runs_ten_tenants(backend: str, tmp_path: Path) -> None:
    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path}/iso.db"
    team = Team("iso", llm=EchoLLM(7), agents=[
        Agent("first", prompt="secret={secret}"),
        Agent("second", prompt="from first: {first}"),
    ], prices={"echo": (1.0, 1.0)})
    tenants = [f"tenant_{i}" for i in range(10)]
    async with team.runtime(url) as rt:
        for t in tenants:
            await rt.tenants.create_tenant(TenantConfig(t, t, tier=TenantTier.ENTERPRISE))

        async def one(i: int) -> tuple[str, Any]:
            tenant = tenants[i % 10]
            return tenant, await rt.run({"secret": f"<{tenant}:{i}>"}, tenant=tenant)

        results = await asyncio.gather(*(one(i) for i in range(100)))
        by_tenant: dict[str, list[Any]] = {t: [] for t in tenants}
        for tenant, result in results:
            by_tenant[tenant].append(result)

        for tenant, mine in by_tenant.items():
            assert len(mine) == 10
            others = [t for t in tenants if t != tenant]
            run_ids = {r.run_id for r in mine}
            expected = Usage()
            for r in mine:
                assert r.tenant_id == tenant
                text = " ".join([r.output, *r.outputs.values()])
                assert f"<{tenant}:" in r.output
                assert not any(f"<{o}:" in text for o in others)
                for name, ctx in r.contexts.items():
                    assert ctx["agent_id"] == f"{tenant}/{r.run_id}/{name}"
                    assert not any(f"<{o}:" in str(ctx) for o in others)
                expected.add(r.usage)
            # usage figures: the store's per-tenant totals are exactly the sum of this tenant's runs
            usage = await rt.usage(tenant)
            assert usage.runs == 10
            assert (usage.total.prompt_tokens, usage.total.completion_tokens, usage.total.requests) == (
                expected.prompt_tokens, expected.completion_tokens, expected.requests)
            assert usage.total.cost == pytest.approx(expected.cost)
            # audit: this tenant's chain holds only its own runs, is gap-free and verifies
            async with rt.tenants.context(tenant):
                records = await rt.audit.query(AuditQuery(limit=1000))
                assert await rt.audit.verify_chain() == (True, [])
            assert len(records) == 10 * 4
            assert {r.tenant_id for r in records} == {tenant}
            assert {r.run_id for r in records} == run_ids
            assert sorted(r.sequence_number for r in records) == list(range(1, 41))
            # process-mining log: one case per run of this tenant, nothing else
            cases = {e.case_id async for e in rt.event_log.iterate(tenant_id=tenant)}
            assert cases == run_ids
            assert {r.run_id for r in await rt.runs(tenant)} == run_ids
