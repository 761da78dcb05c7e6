"""The fleet side of bench_durable: worker processes on PostgreSQL, runs/s per worker count, hand-off time.

Each measurement gets schemas of its own (stores and DBOS), dropped afterwards. Workers are real
``llmteam worker`` processes; the model is the scripted provider with a fixed delay (a stand-in for a model call,
so the figures show how the fleet shares waiting work, not how fast two shared cores run Python).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from llmteam.durable import DurableRuntime
from llmteam.team import Team, load_team
from llmteam.tenancy import TenantConfig, TenantTier

TEAM = """team: bench_fleet
llm: {{provider: scripted, default: ok, delay: {delay}}}
agents:
  - {{name: first, prompt: "First: {{query}}"}}
  - {{name: second, prompt: "Second: {{first}}"}}
"""
TENANTS = 10


class Fleet:
    """``n`` worker processes on one PostgreSQL database, with a submitting runtime in this process."""

    def __init__(self, pg: str, team_file: Path, schema: str) -> None:
        self.pg, self.team_file, self.schema = pg, team_file, schema
        self.stores = f"{pg}{'&' if '?' in pg else '?'}search_path={schema}"
        self.procs: list[tuple[subprocess.Popen[str], str]] = []

    def start(self, n: int, *extra: str) -> None:
        args = [sys.executable, "-c", "from llmteam.cli import main; main()", "worker", str(self.team_file),
                "--db", self.stores, "--system-db", self.pg, "--system-schema", f"{self.schema}_dbos", *extra]
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for _ in range(n)]
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if "ready" not in line:
                raise RuntimeError(f"worker did not start: {line!r}")
            self.procs.append((p, line.split()[1]))

    def stop(self) -> None:
        for p, _ in self.procs:
            if p.poll() is None:
                p.terminate()
        for p, _ in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()


async def _admin(pg: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def fleet(pg: str, delay: float, concurrency: int) -> AsyncIterator[tuple[Fleet, DurableRuntime]]:
    """A fresh pair of schemas, a team file, ENTERPRISE tenants t0..t9 and a submitting runtime.

    The submitter registers the queues with ``concurrency`` runs per worker (DBOS keeps it per queue).
    """
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    await _admin(pg, f'CREATE SCHEMA "{schema}"')  # a fresh random identifier, never input
    with tempfile.TemporaryDirectory() as d:
        team_file = Path(d) / "team.yaml"
        team_file.write_text(TEAM.format(delay=delay), encoding="utf-8")
        f = Fleet(pg, team_file, schema)
        team: Team = load_team(team_file)
        try:
            async with DurableRuntime(team, f.stores, system_db=pg, system_schema=f"{schema}_dbos",
                                      serve=False, concurrency=concurrency) as rt:
                for i in range(TENANTS):
                    await rt.runtime.tenants.create_tenant(TenantConfig(f"t{i}", f"t{i}", tier=TenantTier.ENTERPRISE,
                                                                        max_concurrent_pipelines=4))
                yield f, rt
        finally:
            f.stop()
            await _admin(pg, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; DROP SCHEMA IF EXISTS "{schema}_dbos" CASCADE')


async def _until_done(rt: DurableRuntime, ids: set[str]) -> None:
    for _ in range(6000):  # hang guard (~10 min)
        if sum(s.status == "SUCCESS" for s in await rt.list(limit=len(ids) + 10) if s.run_id in ids) == len(ids):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("runs did not finish")


async def runs_per_second(pg: str, workers: int, runs: int, delay: float, concurrency: int) -> float:
    """Runs/s of ``runs`` 2-agent runs over 10 tenants on ``workers`` workers of ``concurrency`` runs each."""
    async with fleet(pg, delay, concurrency) as (f, rt):
        f.start(workers)
        t0 = time.perf_counter()
        ids = await asyncio.gather(*[rt.submit({"query": f"q{i}"}, tenant=f"t{i % TENANTS}") for i in range(runs)])
        await _until_done(rt, set(ids))
        return runs / (time.perf_counter() - t0)


async def handoff_seconds(pg: str, heartbeat: float, dead_after: float) -> float:
    """Seconds from SIGKILL of a worker holding runs to all of them running (or done) on the other worker."""
    async with fleet(pg, 0.5, 4) as (f, rt):
        f.start(2, "--heartbeat", str(heartbeat), "--dead-after", str(dead_after))
        ids = [await rt.submit({"query": f"q{i}"}, tenant=f"t{i % TENANTS}") for i in range(8)]
        (victim, name), _ = f.procs
        for _ in range(2000):
            held = [s.run_id for s in await rt.list(limit=20) if s.status == "PENDING" and s.executor == name]
            if held:
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("the victim never took a run")
        victim.kill()
        killed = time.perf_counter()
        while True:  # resumed: no run is PENDING under the dead worker any more
            found = {s.run_id: s for s in await rt.list(limit=20)}
            if all(found[i].executor != name or found[i].status == "SUCCESS" for i in held):
                took = time.perf_counter() - killed
                break
            if time.perf_counter() - killed > 300:
                raise RuntimeError("the dead worker's runs were never resumed")
            await asyncio.sleep(0.02)
        await _until_done(rt, set(ids))
        return took


def pg_url() -> str:
    """The benchmark's PostgreSQL server (LLMTEAM_BENCH_PG, default: the test server)."""
    return os.environ.get("LLMTEAM_BENCH_PG", "postgresql://llmteam:llmteam@127.0.0.1:5432/llmteam_test")
