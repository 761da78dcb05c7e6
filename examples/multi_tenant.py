"""Many tenants on one runtime: concurrent runs, per-tenant limits, usage and audit chains stay separate."""

import asyncio

from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team
from llmteam.tenancy import TenantConfig, TenantLimitExceededError, TenantTier

team = Team(
    "echo",
    llm=ScriptedLLM(default="done", delay=0.01),
    agents=[Agent("worker", prompt="Handle {task}")],
    prices={"scripted": (1.0, 2.0)},
)


async def main() -> None:
    async with team.runtime("memory://") as rt:
        await rt.tenants.create_tenant(TenantConfig("big", "Big Co", tier=TenantTier.PROFESSIONAL))
        await rt.tenants.create_tenant(TenantConfig("small", "Small Co", tier=TenantTier.FREE))
        runs = [rt.run({"task": f"job {i}"}, tenant=t) for i in range(5) for t in ("big", "small")]
        results = await asyncio.gather(*runs, return_exceptions=True)
        refused = [r for r in results if isinstance(r, TenantLimitExceededError)]
        print(f"completed={len(results) - len(refused)} refused={len(refused)} (FREE allows one run at a time)")
        for tenant in ("big", "small"):
            usage = await rt.usage(tenant)
            print(f"{tenant}: runs={usage.runs} tokens={usage.total.total_tokens} cost={usage.total.cost:.4f} "
                  f"audit valid={(await rt.verify_audit(tenant))[0]}")


if __name__ == "__main__":
    asyncio.run(main())
