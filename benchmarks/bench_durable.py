"""Durable runs: overhead per agent step, fleet scaling on PostgreSQL, hand-off time, and LangGraph beside us.

1. Overhead per agent step: the same 4-agent run in process and as a DBOS workflow (SQLite, and PostgreSQL when
   reachable), interleaved rounds, medians. ScriptedLLM (no network): the pure cost of checkpointing.
2. Runs/s with 1, 2 and 3 ``llmteam worker`` processes on PostgreSQL (10 tenants, each worker capped at
   ``--concurrency`` runs, the model a scripted provider with a fixed delay): the ratio shows scaling.
3. Hand-off: seconds from SIGKILL of a worker holding runs to its runs running on another worker.
4. The same 4-agent run beside LangGraph with its SQLite checkpointer (``langgraph`` and
   ``langgraph-checkpoint-sqlite`` in a peer virtualenv): interleaved rounds, medians, wall clock and CPU time.
5. Durable writes per agent step on each side, counted under strace (fsync/fdatasync by database file: with WAL
   and synchronous=FULL, one per commit), with each side's SQLite settings: the comparison is like for like.
   And the floor: what one empty DBOS step costs on this machine.

Every section prints the load average it ran under (the machine is shared: compare ratios, not absolutes).

Usage: python benchmarks/bench_durable.py [--quick] [--skip-pg] [--skip-peer] [--skip-writes]
PostgreSQL: LLMTEAM_BENCH_PG (default: the test server).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid

import _durable_writes as writes
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
mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
level = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[conn.execute("PRAGMA synchronous").fetchone()[0]]
print(f"ready lg.db: {mode}, synchronous={level}", flush=True)
n = 0
for line in sys.stdin:
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(runs):
        n += 1
        app.invoke({"query": f"q{n}"}, {"configurable": {"thread_id": f"t{n}"}})
    print(time.perf_counter() - t0, time.process_time() - c0, flush=True)
"""


def team() -> Team:
    names = [f"a{i}" for i in range(AGENTS)]
    agents = [Agent(names[0], prompt="Start: {query}")]
    agents += [Agent(n, prompt=f"Next after {{{prev}}}") for prev, n in itertools.pairwise(names)]
    return Team("bench_durable", llm=ScriptedLLM(default="ok"), agents=agents)


def load() -> str:
    """The 1-minute load average, printed beside every figure (2 shared cores: it moves the absolutes)."""
    return f"load {os.getloadavg()[0]:.1f}"


Sample = tuple[float, float, float]  # per agent step: seconds end to end, seconds inside the run, CPU seconds


async def _timed(run: object, runs: int) -> Sample:
    inside = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(runs):
        inside += (await run({"query": f"q{i}"})).duration_ms / 1000  # type: ignore[operator]
    steps = runs * AGENTS
    return (time.perf_counter() - t0) / steps, inside / steps, (time.process_time() - c0) / steps


async def in_process(t: Team, url: str, runs: int) -> Sample:
    """(seconds per step end to end, inside the run, CPU of this process)."""
    async with t.runtime(url, tenant="bench") as rt:
        await rt.ensure_tenant("bench", TenantTier.ENTERPRISE)  # rate limits out of the way
        await rt.run({"query": "warm"})
        return await _timed(rt.run, runs)


async def durable(t: Team, url: str, runs: int, **options: str) -> Sample:
    """As :func:`in_process`; end to end includes the queue hand-off and waiting for the result."""
    async with DurableRuntime(t, url, tenant="bench", **options) as rt:
        await rt.runtime.ensure_tenant("bench", TenantTier.ENTERPRISE)
        await rt.run({"query": "warm"}, timeout=60)
        return await _timed(lambda q: rt.run(q, timeout=60), runs)


async def overhead(t: Team, backend: str, rounds: int, runs: int) -> None:
    plain: list[Sample] = []
    dur: list[Sample] = []
    for _ in range(rounds):  # interleaved: each round measures both sides under the same load
        if backend == "SQLite":
            with tempfile.TemporaryDirectory() as d:
                plain.append(await in_process(t, f"sqlite:///{d}/p.db", runs))
            with tempfile.TemporaryDirectory() as d:
                dur.append(await durable(t, f"sqlite:///{d}/d.db", runs))
        else:
            plain.append(await _on_pg(lambda url: in_process(t, url, runs)))
            dur.append(await _on_pg(lambda url: durable(t, url, runs, system_db=pg_url(),
                                                        system_schema=url.rsplit("=", 1)[1] + "_dbos")))
    print(f"\n1. per agent step, {backend}, {AGENTS}-agent run, median of {rounds} rounds x {runs} sequential runs "
          f"({load()})")
    print(f"{'':<40} {'in process':>12} {'durable':>12} {'overhead':>10} {'ratio':>7}")
    for k, label in ((0, "end to end (submit -> result)"), (1, "inside the run (checkpointed steps)"),
                     (2, "CPU time of this process")):
        p = statistics.median(x[k] for x in plain) * 1000
        d = statistics.median(x[k] for x in dur) * 1000
        print(f"{label:<40} {p:>10.2f}ms {d:>10.2f}ms {d - p:>8.2f}ms {d / p:>6.1f}x")


async def _on_pg(body: object) -> Sample:
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
          f"--concurrency {concurrency} per worker ({load()})")
    base = None
    for workers in (1, 2, 3):
        rate = await runs_per_second(pg_url(), workers, runs, delay, concurrency)
        base = base or rate
        print(f"   {workers} worker(s): {rate:7.2f} runs/s   x{rate / base:.2f} of one worker")


async def handoff(heartbeat: float, dead_after: float, rounds: int) -> None:
    took = [await handoff_seconds(pg_url(), heartbeat, dead_after) for _ in range(rounds)]
    print(f"\n3. hand-off on PostgreSQL (--heartbeat {heartbeat} --dead-after {dead_after}): SIGKILL -> runs resumed "
          f"on another worker, median of {rounds}: {statistics.median(took):.2f}s (min {min(took):.2f}s, "
          f"max {max(took):.2f}s) ({load()})")


class LangGraph(Peer):
    """The LangGraph worker: each repetition reports its wall clock and its CPU time."""

    def __init__(self, runs: int) -> None:
        super().__init__(peer_python("langgraph", LANGGRAPH), PEER_SCRIPT, str(AGENTS), str(runs))
        self.cpu: list[float] = []

    def time_one(self) -> float:
        assert self._proc.stdin is not None
        self._proc.stdin.write("run\n")
        self._proc.stdin.flush()
        wall, cpu = map(float, self._read().split())
        self.cpu.append(cpu)
        return wall


def versus_langgraph(rounds: int, runs: int) -> None:
    peer = LangGraph(runs)
    loop = asyncio.new_event_loop()
    samples: list[Sample] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            rt = DurableRuntime(team(), f"sqlite:///{d}/d.db", tenant="bench")
            loop.run_until_complete(rt.open())
            loop.run_until_complete(rt.runtime.ensure_tenant("bench", TenantTier.ENTERPRISE))
            loop.run_until_complete(rt.run({"query": "warm"}, timeout=60))

            def batch() -> float:
                samples.append(loop.run_until_complete(_timed(lambda q: rt.run(q, timeout=60), runs)))
                return samples[-1][0] * runs * AGENTS

            ours, theirs = interleave(batch, peer.time_one, rounds)
            loop.run_until_complete(rt.close())
    finally:
        peer.close()
        loop.close()
    per_theirs = theirs / runs * 1000
    per = {k: statistics.median(x[k] for x in samples) * AGENTS * 1000 for k in (1, 2)}
    per[0] = ours / runs * 1000  # the interleaved median
    cpu_theirs = statistics.median(peer.cpu) / runs * 1000
    print(f"\n4. {AGENTS}-agent run on SQLite, durable llmteam vs LangGraph + SqliteSaver ({peer.info}), median of "
          f"{rounds} interleaved rounds x {runs} sequential runs ({load()})")
    print(f"   LangGraph invoke:                     {per_theirs:8.2f} ms/run   CPU {cpu_theirs:6.2f} ms/run")
    print(f"   llmteam durable, inside the run:      {per[1]:8.2f} ms/run   ratio x{per_theirs / per[1]:.2f} "
          "(LangGraph / llmteam; above 1: llmteam faster) -- also audited, mined, metered")
    print(f"   llmteam durable, submit -> result:    {per[0]:8.2f} ms/run   ratio x{per_theirs / per[0]:.2f} "
          "(adds the queue hand-off and waiting for the result)")
    print(f"   llmteam durable, CPU time:            {per[2]:8.2f} ms/run   ratio x{cpu_theirs / per[2]:.2f} "
          "(CPU: the load distorts it least)")


def durable_writes(runs: int, peer: bool) -> None:
    print(f"\n5. durable writes per agent step, SQLite, {AGENTS}-agent run, {runs} runs minus 0 after the same "
          f"warm-up: fsync/fdatasync calls by file (WAL + synchronous=FULL: one per commit) ({load()})")
    if writes.strace() is None:
        print("   skipped: strace is not installed (apt-get install strace)")
        return
    if peer:
        counts, said = writes.per_step([str(peer_python("langgraph", LANGGRAPH)), "-c", PEER_SCRIPT, str(AGENTS)],
                                       runs, AGENTS, stdin="run\n")
        print(writes.show("LangGraph + SqliteSaver", counts), f"[{said}]")
    for mode, label in (("inproc", "llmteam in process"), ("durable", "llmteam durable (DBOS)")):
        counts, said = writes.ours(mode, runs, AGENTS)
        print(writes.show(label, counts), f"[{said}]")
    cpu, wall, syncs = writes.dbos_floor()
    print(f"   floor: one empty DBOS step on SQLite costs {cpu:.2f} ms CPU, {wall:.2f} ms wall, {syncs:.1f} syncs "
          f"(a durable run checkpoints at least each of its {AGENTS} model calls)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs: a smoke run in seconds")
    parser.add_argument("--skip-pg", action="store_true", help="no PostgreSQL figures")
    parser.add_argument("--skip-peer", action="store_true", help="no LangGraph comparison")
    parser.add_argument("--skip-writes", action="store_true", help="no write counts (they run under strace)")
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
    if not args.skip_writes:
        durable_writes(5 if args.quick else 10, not args.skip_peer)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
