"""Team runtime benchmark: prints a table of figure, measured, target, ok?

    python benchmarks/bench_team.py [--runs 10000] [--concurrent-batches 5]

Figures:
- ``llmteam demo`` end to end, in a fresh directory, as a user runs it (a subprocess; < 5 s).
- Runtime overhead per governed agent step on the default SQLite store (audit write-through with
  synchronous=FULL, rate limiter, secure context, mining events; ScriptedLLM answering instantly): the marginal
  cost of an extra agent, (time of a 10-agent run - time of a 1-agent run) / 9 (<= 1 ms). The memory:// figure
  is printed for reference.
- 100 concurrent runs across 10 tenants on one runtime (SQLite): throughput and p50/p99 step latency, where a
  step's latency is the time between consecutive audit records of its run (decision + model + context + audit).
- RSS before and after ``--runs`` runs (batches of 100 concurrent runs across 10 tenants): memory stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team, TeamRuntime
from llmteam.tenancy import TenantTier

TENANTS = [f"bench_{i}" for i in range(10)]
# the installed console script, as a user runs it (else the same entry point through this interpreter)
LLMTEAM = [shutil.which("llmteam") or ""] if shutil.which("llmteam") else [
    sys.executable, "-c", "from llmteam.cli import main; main()"]
ROWS: list[tuple[str, str, str, bool | None]] = []


def row(figure: str, measured: str, target: str = "-", ok: bool | None = None) -> None:
    ROWS.append((figure, measured, target, ok))
    print(f"  {figure}: {measured}", file=sys.stderr, flush=True)


def team_of(agents: int) -> Team:
    return Team(f"bench{agents}", llm=ScriptedLLM(default="ok"),
                agents=[Agent(f"a{i}", prompt=f"step {i}: {{q}}") for i in range(agents)])


async def open_runtime(team: Team, url: str) -> TeamRuntime:
    rt = await team.runtime(url).open()
    for tenant in TENANTS:
        await rt.ensure_tenant(tenant, TenantTier.ENTERPRISE)
    return rt


def bench_demo(repeats: int) -> None:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cwd:
            env = {k: v for k, v in os.environ.items() if k != "LLMTEAM_BASE_URL"}
            start = time.perf_counter()
            done = subprocess.run([*LLMTEAM, "demo", "--json"], cwd=cwd, env=env,
                                  capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"llmteam demo failed: {done.stderr[-2000:]}")
    worst = max(times)
    row(f"llmteam demo end to end (worst of {repeats}, fresh dir)",
        f"{worst:.2f} s (median {statistics.median(times):.2f} s)", "< 5 s", worst < 5)


async def per_run_seconds(url: str, agents: int, runs: int) -> float:
    rt = await open_runtime(team_of(agents), url)
    try:
        for _ in range(20):
            await rt.run({"q": "warm"}, tenant=TENANTS[0])
        start = time.perf_counter()
        for _ in range(runs):
            await rt.run({"q": "x"}, tenant=TENANTS[0])
        return (time.perf_counter() - start) / runs
    finally:
        await rt.close()


async def bench_step_overhead(tmp: Path, runs: int) -> None:
    for label, url1, url10 in (("memory://", "memory://", "memory://"),
                               ("SQLite", f"sqlite:///{tmp}/one.db", f"sqlite:///{tmp}/ten.db")):
        one = await per_run_seconds(url1, 1, runs)
        ten = await per_run_seconds(url10, 10, runs)
        marginal_ms = (ten - one) / 9 * 1000
        is_sqlite = label == "SQLite"
        row(f"overhead per governed agent step, {label}", f"{marginal_ms:.3f} ms "
            f"(1-agent run {one * 1000:.2f} ms, 10-agent run {ten * 1000:.2f} ms)",
            "<= 1 ms" if is_sqlite else "-", marginal_ms <= 1.0 if is_sqlite else None)


async def concurrent_batch(rt: TeamRuntime, batch: int) -> int:
    runs = [rt.run({"q": f"{batch}-{i}"}, tenant=TENANTS[i % 10]) for i in range(100)]
    results = await asyncio.gather(*runs)
    return sum(len(r.steps) for r in results)


async def step_latencies(rt: TeamRuntime) -> list[float]:
    out: list[float] = []
    for tenant in TENANTS:
        async with rt.tenants.context(tenant):
            records = await rt.audit.query(AuditQuery(limit=100_000, order_by="sequence_number", order_desc=False))
        last: dict[str, float] = {}
        for r in records:
            ts = r.timestamp.timestamp()
            if r.event_type is AuditEventType.AGENT_COMPLETED and r.run_id in last:
                out.append((ts - last[r.run_id]) * 1000)
            last[r.run_id] = ts
    return sorted(out)


async def bench_concurrent(tmp: Path, batches: int) -> None:
    rt = await open_runtime(team_of(4), f"sqlite:///{tmp}/concurrent.db")
    try:
        await concurrent_batch(rt, -1)  # warm-up
        start = time.perf_counter()
        steps = 0
        for b in range(batches):
            steps += await concurrent_batch(rt, b)
        elapsed = time.perf_counter() - start
        lat = await step_latencies(rt)
    finally:
        await rt.close()
    runs = batches * 100
    row("100 concurrent runs x 10 tenants (4 agents, SQLite): throughput",
        f"{runs / elapsed:.0f} runs/s, {steps / elapsed:.0f} steps/s")
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    row("100 concurrent runs x 10 tenants: step latency", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")


async def bench_memory(tmp: Path, total_runs: int) -> None:
    rt = await open_runtime(team_of(2), f"sqlite:///{tmp}/memory.db")
    proc = psutil.Process()
    try:
        for b in range(3):
            await concurrent_batch(rt, b)
        start_rss = proc.memory_info().rss
        samples = []
        batches = max(1, total_runs // 100)
        t0 = time.perf_counter()
        for b in range(batches):
            await concurrent_batch(rt, b)
            if b % max(1, batches // 5) == 0:
                samples.append(proc.memory_info().rss)
        elapsed = time.perf_counter() - t0
        end_rss = proc.memory_info().rss
    finally:
        await rt.close()
    mib = 1024 * 1024
    growth = (end_rss - start_rss) / mib
    row(f"RSS over {batches * 100} runs ({batches * 100 / elapsed:.0f} runs/s)",
        f"start {start_rss / mib:.1f} MiB, end {end_rss / mib:.1f} MiB, growth {growth:+.1f} MiB "
        f"(samples {', '.join(f'{s / mib:.0f}' for s in samples)})",
        "flat (< 20 MiB growth)", growth < 20)


def print_table() -> None:
    width = max(len(r[0]) for r in ROWS)
    mwidth = max(len(r[1]) for r in ROWS)
    print(f"{'figure':<{width}}  {'measured':<{mwidth}}  {'target':<22}  ok?")
    print("-" * (width + mwidth + 32))
    for figure, measured, target, ok in ROWS:
        mark = "-" if ok is None else ("yes" if ok else "NO")
        print(f"{figure:<{width}}  {measured:<{mwidth}}  {target:<22}  {mark}")


async def main_async(args: argparse.Namespace, tmp: Path) -> None:
    await bench_step_overhead(tmp, args.step_runs)
    await bench_concurrent(tmp, args.concurrent_batches)
    await bench_memory(tmp, args.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000, help="runs for the memory figure (default 10000)")
    parser.add_argument("--concurrent-batches", type=int, default=5, help="batches of 100 concurrent runs")
    parser.add_argument("--step-runs", type=int, default=200, help="runs per step-overhead measurement")
    parser.add_argument("--demo-repeats", type=int, default=3, help="llmteam demo invocations")
    args = parser.parse_args()
    bench_demo(args.demo_repeats)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main_async(args, Path(tmp)))
    print_table()
    if any(ok is False for *_, ok in ROWS):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
