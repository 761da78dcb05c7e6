"""What tracing costs per governed agent step: telemetry off, on with OpenTelemetry's no-op API, on with the SDK.

    python benchmarks/bench_otel.py [--runs 200] [--agents 5]

Each repetition runs a ``--agents``-step team (ScriptedLLM answering instantly, memory:// stores) once per mode,
interleaved so every mode sees the same machine load; the table gives the median time per step and the
difference to "off". "SDK" records every span and metric into in-memory exporters (the upper bound: a real
exporter batches in a background thread).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmteam.llm import ScriptedLLM
from llmteam.observability import Telemetry
from llmteam.team import Agent, Team, TeamRuntime
from llmteam.tenancy import TenantTier


def sdk_telemetry() -> Telemetry:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    return Telemetry(tracer_provider=tracer_provider,
                     meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))


async def main(runs: int, agents: int) -> None:
    team = Team("bench", llm=ScriptedLLM(default="ok"),
                agents=[Agent(f"a{i}", prompt=f"step {i}: {{q}}") for i in range(agents)])
    modes: dict[str, TeamRuntime] = {}
    for name, telemetry in (("off", False), ("API only (no SDK configured)", Telemetry()), ("SDK", sdk_telemetry())):
        rt = await team.runtime("memory://", tenant="bench", telemetry=telemetry, max_rate_wait=0).open()
        await rt.ensure_tenant("bench", TenantTier.ENTERPRISE)
        modes[name] = rt
    times: dict[str, list[float]] = {name: [] for name in modes}
    for i in range(runs + 5):
        for name, rt in modes.items():
            started = time.perf_counter()
            await rt.run({"q": "x"})
            if i >= 5:  # warm-up
                times[name].append((time.perf_counter() - started) / agents)
    base = statistics.median(times["off"])
    print(f"{'mode':<32}{'per step (median)':>20}{'vs off':>12}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<32}{median * 1e6:>17.1f} us{(median - base) * 1e6:>+9.1f} us")
    for rt in modes.values():
        await rt.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--agents", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.agents))
