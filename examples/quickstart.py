"""The README example: a two-agent team run for one tenant on the embedded SQLite store, fully offline."""

import asyncio

from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team

llm = ScriptedLLM({"Classify": "billing"}, default="Sorry about that: we have corrected your invoice.")
team = Team("support", llm=llm, agents=[
    Agent("triage", prompt="Classify: {query}"),
    Agent("answer", prompt="Reply to {query} as {triage}"),
], prices={"scripted": {"prompt_per_1k": 0.5, "completion_per_1k": 1.5}})   # illustrative, USD per 1,000 tokens


async def main() -> None:
    async with team.runtime("sqlite:///./.llmteam/llmteam.db", tenant="acme") as rt:
        result = await rt.run({"query": "My invoice is wrong"})
        print(result.output)
        print(f"tokens={result.usage.total_tokens} cost={result.usage.cost}")
        print(f"audit head: #{result.audit_head.sequence_number} {result.audit_head.checksum[:16]}")
        print("audit chain valid:", (await rt.verify_audit())[0])


if __name__ == "__main__":
    asyncio.run(main())
