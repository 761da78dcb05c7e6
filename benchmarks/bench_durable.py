"""Durable runs: overhead per agent step, fleet scaling on PostgreSQL, hand-off time, and LangGraph beside us.

1. Overhead per agent step: the same 4-agent run in process and as a DBOS workflow (SQLite, and PostgreSQL when
   reachable), interleaved rounds, medians. ScriptedLLM (no network): the pure cost of checkpointing.
2. Runs/s with 1, 2 and 3 ``llmteam worker`` processes on PostgreSQL (10 tenants, each worker capped at
   ``--concurrency`` runs, the model a scripted provider with a fixed delay): the ratio shows scaling.
3. Hand-off: seconds from SIGKILL of a worker holding runs to its runs running on another worker.
4. The same 4-agent run beside LangGraph with its SQLite checkpointer (``langgraph`` and
   ``langgraph-checkpoint-sqlite`` in a peer virtualenv): interleaved rounds, medians, wall clock.

Usage: python benchmarks/bench_durable.py [--quick] [--skip-pg] [--skip-peer]
PostgreSQL: LLMTEAM_BENCH_PG (default: the test server).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
import uuid

from _durable_fleet import handoff_seconds, pg_url, runs_per_second
from _peers import Peer, interleave, peer_python

from llmteam.durable import DurableRuntime
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team
from llmteam.tenancy import TenantTier

AGENTS = 4
LANGGRAPH = ["langgraph>=0.2", "langgraph-checkpoint-sqlite>=2"]
PEER_SCRIPT = r"""
import sqlite3, sys, tempfile, time
from typing import TypedDict
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

agents, runs = int(sys.argv[1]), int(sys.argv[2])
names = [f"a{i}" for i in range(agents)]
State = TypedDict("State", {"query": str, **{n: str for n in names}}, total=False)

def node(i):
    def step(state):
        prompt = f"Start: {state['query']}" if i == 0 else f"Next after {state[names[i - 1]]}"
        return {names[i]: "ok" if prompt else ""}
    return step

graph = StateGraph(State)
for i, n in enumerate(names):
    graph.add_node(n, node(i))
graph.add_edge(START, names[0])
for a, b in zip(names, names[1:]):
    graph.add_edge(a, b)
graph.add_edge(names[-1], END)
conn = sqlite3.connect(f"{tempfile.mkdtemp()}/lg.db", check_same_thread=False)
app = graph.compile(checkpointer=SqliteSaver(conn))
app.invoke({"query": "warm"}, {"configurable": {"thread_id": "warm"}})
print("ready", flush=True)
n = 0
for line in sys.stdin:
    t0 = time.perf_counter()
    for _ in range(runs):
        n += 1
        app.invoke({"query": f"q{n}"}, {"configurable": {"thread_id": f"t{n}"}})
    print(time.perf_counter() - t0, flush=True)
"""


def team() -> Team:
    names = [f"a{i}" for i in range(AGENTS)]
    agents = [Agent(names[0], prompt="Start: {query}")]
    agents += [Agent(n, prompt=f"Next after {{{prev}}}") for prev, n in itertools.pairwise(names)]
    return Team("bench_durable", llm=ScriptedLLM(default="ok"), agents=agents)


async def in_process(t: Team, url: str, runs: int) -> tuple[float, float]:
    """(seconds per step end to end, seconds per step inside the run)."""
    async with t.runtime(url, tenant="bench") as rt:
        await rt.ensure_tenant("bench", TenantTier.ENTERPRISE)  # rate limits out of the way
        await rt.run({"query": "warm"})
        inside = 0.0
        t0 = time.perf_counter()
        for i in range(runs):
            inside += (await rt.run({"query": f"q{i}"})).duration_ms / 1000
        return (time.perf_counter() - t0) / (runs * AGENTS), inside / (runs * AGENTS)


async def durable(t: Team, url: str, runs: int, **options: str) -> tuple[float, float]:
    """As :func:`in_process`; end to end includes the queue hand-off and waiting for the result."""
    async with DurableRuntime(t, url, tenant="bench", **options) as rt:
        await rt.runtime.ensure_tenant("bench", TenantTier.ENTERPRISE)
        await rt.run({"query": "warm"}, timeout=60)
        inside = 0.0
        t0 = time.perf_counter()
        for i in range(runs):
            inside += (await rt.run({"query": f"q{i}"}, timeout=60)).duration_ms / 1000
        return (time.perf_counter() - t0) / (runs * AGENTS), inside / (runs * AGENTS)


async def overhead(t: Team, backend: str, rounds: int, runs: int) -> None:
    plain: list[tuple[float, float]] = []
    dur: list[tuple[float, float]] = []
    for _ in range(rounds):
        if backend == "SQLite":
            with tempfile.TemporaryDirectory() as d:
                plain.append(await in_process(t, f"sqlite:///{d}/p.db", runs))
            with tempfile.TemporaryDirectory() as d:
                dur.append(await durable(t, f"sqlite:///{d}/d.db", runs))
        else:
            plain.append(await _on_pg(lambda url: in_process(t, url, runs)))
            dur.append(await _on_pg(lambda url: durable(t, url, runs, system_db=pg_url(),
                                                        system_schema=url.rsplit("=", 1)[1] + "_dbos")))
    print(f"\n1. per agent step, {backend}, {AGENTS}-agent run, median of {rounds} rounds x {runs} sequential runs")
    print(f"{'':<40} {'in process':>12} {'durable':>12} {'overhead':>10} {'ratio':>7}")
    for k, label in ((0, "end to end (submit -> result)"), (1, "inside the run (checkpointed steps)")):
        p = statistics.median(x[k] for x in plain) * 1000
        d = statistics.median(x[k] for x in dur) * 1000
        print(f"{label:<40} {p:>10.2f}ms {d:>10.2f}ms {d - p:>8.2f}ms {d / p:>6.1f}x")


async def _on_pg(body: object) -> tuple[float, float]:
    from _durable_fleet import _admin

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    pg = pg_url()
    await _admin(pg, f'CREATE SCHEMA "{schema}"')
    try:
        return await body(f"{pg}?search_path={schema}")  # type: ignore[operator, no-any-return]
    finally:
        await _admin(pg, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; DROP SCHEMA IF EXISTS "{schema}_dbos" CASCADE')


async def scaling(runs: int, delay: float, concurrency: int) -> None:
    print(f"\n2. fleet on PostgreSQL: {runs} two-agent runs over 10 tenants, model delay {delay}s, "
          f"--concurrency {concurrency} per worker")
    base = None
    for workers in (1, 2, 3):
        rate = await runs_per_second(pg_url(), workers, runs, delay, concurrency)
        base = base or rate
        print(f"   {workers} worker(s): {rate:7.2f} runs/s   x{rate / base:.2f} of one worker")


async def handoff(heartbeat: float, dead_after: float, rounds: int) -> None:
    took = [await handoff_seconds(pg_url(), heartbeat, dead_after) for _ in range(rounds)]
    print(f"\n3. hand-off on PostgreSQL (--heartbeat {heartbeat} --dead-after {dead_after}): SIGKILL -> runs resumed "
          f"on another worker, median of {rounds}: {statistics.median(took):.2f}s (min {min(took):.2f}s, "
          f"max {max(took):.2f}s)")


def versus_langgraph(rounds: int, runs: int) -> None:
    python = peer_python("langgraph", LANGGRAPH)
    peer = Peer(python, PEER_SCRIPT, str(AGENTS), str(runs))
    loop = asyncio.new_event_loop()
    t = team()
    inside: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            rt = DurableRuntime(t, f"sqlite:///{d}/d.db", tenant="bench")
            loop.run_until_complete(rt.open())
            loop.run_until_complete(rt.runtime.ensure_tenant("bench", TenantTier.ENTERPRISE))
            loop.run_until_complete(rt.run({"query": "warm"}, timeout=60))

            async def batch() -> float:
                t0 = time.perf_counter()
                for i in range(runs):
                    inside.append((await rt.run({"query": f"q{i}"}, timeout=60)).duration_ms / 1000)
                return time.perf_counter() - t0

            ours, theirs = interleave(lambda: loop.run_until_complete(batch()), peer.time_one, rounds)
            loop.run_until_complete(rt.close())
    finally:
        peer.close()
        loop.close()
    per_ours, per_theirs, per_inside = ours / runs * 1000, theirs / runs * 1000, statistics.median(inside) * 1000
    print(f"\n4. {AGENTS}-agent run on SQLite, durable llmteam vs LangGraph + SqliteSaver, median of {rounds} "
          f"interleaved rounds x {runs} sequential runs (wall clock)")
    print(f"   LangGraph invoke:                     {per_theirs:8.2f} ms/run")
    print(f"   llmteam durable, inside the run:      {per_inside:8.2f} ms/run   ratio x{per_theirs / per_inside:.2f} "
          "(LangGraph / llmteam; above 1: llmteam faster) -- also audited, mined, metered")
    print(f"   llmteam durable, submit -> result:    {per_ours:8.2f} ms/run   ratio x{per_theirs / per_ours:.2f} "
          "(adds the queue hand-off and result polling)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs: a smoke run in seconds")
    parser.add_argument("--skip-pg", action="store_true", help="no PostgreSQL figures")
    parser.add_argument("--skip-peer", action="store_true", help="no LangGraph comparison")
    args = parser.parse_args()
    rounds, runs = (1, 3) if args.quick else (3, 5)

    async def ours() -> None:
        t = team()
        await overhead(t, "SQLite", rounds, runs)
        if not args.skip_pg:
            await overhead(t, "PostgreSQL", rounds, runs)
            await scaling(24 if args.quick else 60, 1.0, 4)
            await handoff(0.5, 2.0, 1 if args.quick else 3)

    asyncio.run(ours())
    if not args.skip_peer:
        versus_langgraph(3 if args.quick else 7, runs)


if __name__ == "__main__":
    main()
