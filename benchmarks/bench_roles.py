"""Roles benchmarks: orchestration steps/s with mining on beside mining off, XES export events/s, analysis events/s.

Orchestrator figures: CPU time (``time.process_time``) per agent step, medians of interleaved batches (mining on /
off alternate which goes first), each batch a fresh orchestrator with ten no-op agents. Steps/s is 1 / CPU time per
step, so it suffers less from other work on the machine than wall time; the load average is printed beside it.

``--vs REV`` instead runs the orchestrator figures of the code at git revision REV (extracted to a temporary folder)
beside the working tree's, in interleaved processes, and prints both with the ratio.

Run: python benchmarks/bench_roles.py [--rounds N] [--runs N] [--orchestrator-only] [--vs REV]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from llmteam.roles import PipelineOrchestrator, ProcessEvent, ProcessMiningEngine

AGENTS = 10
RUNS = 1_200  # per batch: 12,000 agent steps
ROUNDS = 7
EVENTS = 300_000


class NoOp:
    async def process(self, state: dict) -> None:
        return None


async def orchestrator_cpu_per_step(mining: bool, runs: int = RUNS) -> float:
    """CPU seconds per agent step of one timed batch of runs (after a warm-up), with process mining on or off."""
    orch = PipelineOrchestrator("bench", enable_process_mining=mining, history_limit=1000)
    for i in range(AGENTS):
        orch.register_agent(f"agent{i}", NoOp())
    for i in range(200):  # warm-up
        await orch.orchestrate(f"w{i}", {})
    if orch.process_mining is not None:
        orch.process_mining.clear()
    start = time.process_time()
    for i in range(runs):
        await orch.orchestrate(f"run{i}", {"i": i})
    return (time.process_time() - start) / (runs * AGENTS)


def orchestrator_side_by_side(
    rounds: int = ROUNDS, runs: int = RUNS, first: int = 0
) -> tuple[list[float], list[float]]:
    """CPU seconds per step with mining on and off, one figure per round, batches interleaved: mining on goes first
    in rounds ``first``, ``first + 2``, ..., mining off in the others (a batch after a mined one in the same process
    runs 15-30 % slower: each side takes that place half of the time)."""
    on: list[float] = []
    off: list[float] = []
    for i in range(first, first + rounds):
        for mining in ((True, False) if i % 2 == 0 else (False, True)):
            (on if mining else off).append(asyncio.run(orchestrator_cpu_per_step(mining, runs)))
    return on, off


def print_orchestrator(rounds: int, runs: int) -> float:
    """Print the orchestrator figures; returns the median steps/s with mining on."""
    load_before = os.getloadavg()
    on, off = orchestrator_side_by_side(rounds, runs)
    load_after = os.getloadavg()
    cost = statistics.median(a - b for a, b in zip(on, off, strict=True))
    print(f"PipelineOrchestrator, {AGENTS} no-op agents, {rounds} interleaved rounds of {runs * AGENTS:,} steps "
          f"(medians, CPU time)")
    print(f"{'':<12} {'steps/s':>10} {'CPU us/step':>12}")
    for name, per_step in (("mining on", on), ("mining off", off)):
        median = statistics.median(per_step)
        print(f"{name:<12} {1 / median:>10,.0f} {median * 1e6:>12.2f}")
    print(f"mining costs {cost * 1e6:.2f} us/step ({statistics.median(on) / statistics.median(off):.2f}x the steps "
          f"without it); load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    return 1 / statistics.median(on)


HERE = Path(__file__).resolve().parent


def versus_revision(rev: str, rounds: int, runs: int) -> None:
    """Mining on / off CPU per step of the code at ``rev`` and of the working tree, one process per round each,
    alternating which goes first (and, every two rounds, whether mining on or off runs first in the process);
    prints medians and the ratio (before / now: above 1 means now is faster)."""
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "src"], cwd=HERE.parent, check=True,
                             capture_output=True).stdout
    child = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_roles as b; "
             f"print(json.dumps(b.orchestrator_side_by_side(1, {runs}, int(sys.argv[1]))))")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        sources = {rev: str(Path(tmp) / "src"), "now": str(HERE.parent / "src")}
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
        load_before = os.getloadavg()
        for i in range(rounds):
            for name in (list(sources) if i % 2 == 0 else list(sources)[::-1]):
                env = {**os.environ, "PYTHONPATH": sources[name]}
                out = subprocess.run([sys.executable, "-c", child, str(i // 2)], env=env, check=True,
                                     capture_output=True, text=True).stdout
                on, off = json.loads(out)
                figures[name].append((on[0], off[0]))
        load_after = os.getloadavg()
    print(f"PipelineOrchestrator, {AGENTS} no-op agents, {rounds} interleaved processes per side of "
          f"{runs * AGENTS:,} steps (medians, CPU time)")
    print(f"{'':<22} {'mining on us/step':>18} {'steps/s':>9} {'mining off us/step':>19} {'steps/s':>9}")
    medians = {}
    for name, values in figures.items():
        on_med = statistics.median(v[0] for v in values)
        off_med = statistics.median(v[1] for v in values)
        medians[name] = (on_med, off_med)
        print(f"{name[:22]:<22} {on_med * 1e6:>18.2f} {1 / on_med:>9,.0f} {off_med * 1e6:>19.2f} {1 / off_med:>9,.0f}")
    print(f"ratio (before / now): mining on x{medians[rev][0] / medians['now'][0]:.2f}, "
          f"off x{medians[rev][1] / medians['now'][1]:.2f}; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")


def build_engine() -> ProcessMiningEngine:
    engine = ProcessMiningEngine()
    t0 = datetime(2024, 1, 1)
    acts = ["triage", "retrieve", "draft", "review", "send"]
    for i in range(EVENTS):
        case, step = divmod(i, 10)
        act = acts[step % 5]
        engine.record_event(ProcessEvent(
            f"e{i}", t0 + timedelta(seconds=case * 60 + step), act, "bot", f"case{case}",
            "start" if step % 2 == 0 else "complete", 0 if step % 2 == 0 else 100 + step, 0.0,
            {"reason": "r", "confidence": 0.9},
        ))
    return engine


def best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds of mining on / off")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs of {AGENTS} steps per timed batch")
    parser.add_argument("--orchestrator-only", action="store_true", help="skip the XES and analysis rows")
    parser.add_argument("--vs", metavar="REV", help="compare the orchestrator with the code at git revision REV")
    args = parser.parse_args()
    if args.vs:
        versus_revision(args.vs, args.rounds, args.runs)
        return
    on = print_orchestrator(args.rounds, args.runs)
    rows = [("PipelineOrchestrator agent steps/s, mining on (no-op agents)", on, 60_000)]
    if not args.orchestrator_only:
        engine = build_engine()
        rows.append(("XES export events/s (standard layout)",
                     EVENTS / best(lambda: engine.export_xes(standard=True)), 300_000))

        def analysis() -> None:
            engine._cache = None  # measure from scratch: no cached sorted cases or profile
            engine.calculate_metrics()
            engine.directly_follows_graph()
            engine.find_bottlenecks("service")
            engine.find_bottlenecks("waiting")

        rows.append(("metrics + DFG + bottlenecks events/s", EVENTS / best(analysis), 1_000_000))
    print()
    print(f"{'figure':<62} {'measured':>14} {'target':>12}  ok?")
    for name, measured, target in rows:
        print(f"{name:<62} {measured:>14,.0f} {target:>12,}  {'yes' if measured >= target else 'NO'}")


if __name__ == "__main__":
    main()
