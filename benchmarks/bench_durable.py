"""Durable-run overhead per agent step on SQLite: the same 4-agent run in process and as a DBOS workflow.

Interleaved rounds (in process, then durable, each on its own fresh database), medians, the ratio side by side.
The model is ScriptedLLM (no network), so the figure is the pure cost of checkpointing and the queue hand-off.
Usage: python benchmarks/bench_durable.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time

from llmteam.durable import DurableRuntime
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team
from llmteam.tenancy import TenantTier

AGENTS = 4


def team() -> Team:
    names = [f"a{i}" for i in range(AGENTS)]
    agents = [Agent(names[0], prompt="Start: {query}")]
    agents += [Agent(n, prompt=f"Next after {{{prev}}}") for prev, n in itertools.pairwise(names)]
    return Team("bench_durable", llm=ScriptedLLM(default="ok"), agents=agents)


async def in_process(t: Team, runs: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        async with t.runtime(f"sqlite:///{d}/b.db", tenant="bench") as rt:
            await rt.ensure_tenant("bench", TenantTier.ENTERPRISE)  # rate limits out of the way
            await rt.run({"query": "warm"})
            t0 = time.perf_counter()
            for i in range(runs):
                await rt.run({"query": f"q{i}"})
            return (time.perf_counter() - t0) / (runs * AGENTS)


async def durable(t: Team, runs: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        async with DurableRuntime(t, f"sqlite:///{d}/b.db", tenant="bench") as rt:
            await rt.runtime.ensure_tenant("bench", TenantTier.ENTERPRISE)
            await rt.run({"query": "warm"}, timeout=60)
            t0 = time.perf_counter()
            for i in range(runs):
                await rt.run({"query": f"q{i}"}, timeout=60)
            return (time.perf_counter() - t0) / (runs * AGENTS)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    t = team()
    plain: list[float] = []
    dur: list[float] = []
    for _ in range(args.rounds):
        plain.append(await in_process(t, args.runs))
        dur.append(await durable(t, args.runs))
    p, d = statistics.median(plain) * 1000, statistics.median(dur) * 1000
    print(f"{'per agent step, SQLite, ' + str(AGENTS) + '-agent run':<44} {'in process':>12} {'durable':>12} "
          f"{'overhead':>10} {'ratio':>7}")
    print(f"{'median of ' + str(args.rounds) + ' rounds x ' + str(args.runs) + ' runs (sequential)':<44} "
          f"{p:>10.2f}ms {d:>10.2f}ms {d - p:>8.2f}ms {d / p:>6.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
