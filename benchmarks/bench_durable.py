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


async def in_process(t: Team, runs: int) -> tuple[float, float]:
    """(seconds per step end to end, seconds per step inside the run)."""
    with tempfile.TemporaryDirectory() as d:
        async with t.runtime(f"sqlite:///{d}/b.db", tenant="bench") as rt:
            await rt.ensure_tenant("bench", TenantTier.ENTERPRISE)  # rate limits out of the way
            await rt.run({"query": "warm"})
            inside = 0.0
            t0 = time.perf_counter()
            for i in range(runs):
                inside += (await rt.run({"query": f"q{i}"})).duration_ms / 1000
            return (time.perf_counter() - t0) / (runs * AGENTS), inside / (runs * AGENTS)


async def durable(t: Team, runs: int) -> tuple[float, float]:
    """As :func:`in_process`; end to end includes the queue hand-off and waiting for the result."""
    with tempfile.TemporaryDirectory() as d:
        async with DurableRuntime(t, f"sqlite:///{d}/b.db", tenant="bench") as rt:
            await rt.runtime.ensure_tenant("bench", TenantTier.ENTERPRISE)
            await rt.run({"query": "warm"}, timeout=60)
            inside = 0.0
            t0 = time.perf_counter()
            for i in range(runs):
                inside += (await rt.run({"query": f"q{i}"}, timeout=60)).duration_ms / 1000
            return (time.perf_counter() - t0) / (runs * AGENTS), inside / (runs * AGENTS)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    t = team()
    plain: list[tuple[float, float]] = []
    dur: list[tuple[float, float]] = []
    for _ in range(args.rounds):
        plain.append(await in_process(t, args.runs))
        dur.append(await durable(t, args.runs))
    print(f"per agent step, SQLite, {AGENTS}-agent run, median of {args.rounds} rounds x {args.runs} sequential runs")
    print(f"{'':<44} {'in process':>12} {'durable':>12} {'overhead':>10} {'ratio':>7}")
    for k, label in ((0, "end to end (submit -> result)"), (1, "inside the run (checkpointed steps)")):
        p = statistics.median(x[k] for x in plain) * 1000
        d = statistics.median(x[k] for x in dur) * 1000
        print(f"{label:<44} {p:>10.2f}ms {d:>10.2f}ms {d - p:>8.2f}ms {d / p:>6.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
