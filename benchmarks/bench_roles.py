"""Roles benchmarks: orchestration steps/s with mining on beside mining off, XES export events/s, analysis events/s.

Orchestrator figures: CPU time, medians of interleaved batches (mining on / off alternate which goes first).

Run: python benchmarks/bench_roles.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime, timedelta

from llmteam.roles import PipelineOrchestrator, ProcessEvent, ProcessMiningEngine

AGENTS = 10
RUNS = 6_000
EVENTS = 300_000


class NoOp:
    async def process(self, state: dict) -> None:
        return None


async def orchestrator_steps_per_s(mining: bool, runs: int = RUNS) -> float:
    """Agent steps/s of one timed batch of runs (after a warm-up), with process mining on or off."""
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
    return runs * AGENTS / (time.process_time() - start)


def orchestrator_side_by_side(rounds: int = 5) -> tuple[float, float]:
    """Median steps/s with mining on and off, batches interleaved (alternating which goes first)."""
    on: list[float] = []
    off: list[float] = []
    for i in range(rounds):
        for mining in ((True, False) if i % 2 == 0 else (False, True)):
            (on if mining else off).append(asyncio.run(orchestrator_steps_per_s(mining, RUNS // rounds)))
    return statistics.median(on), statistics.median(off)


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
    on, off = orchestrator_side_by_side()
    rows = [("PipelineOrchestrator agent steps/s, mining off (no-op agents)", off, 0),
            ("PipelineOrchestrator agent steps/s, mining on (no-op agents)", on, 60_000)]
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
    print(f"{'figure':<62} {'measured':>14} {'target':>12}  ok?")
    for name, measured, target in rows:
        print(f"{name:<62} {measured:>14,.0f} {target:>12,}  {'yes' if measured >= target else 'NO'}")


if __name__ == "__main__":
    main()
