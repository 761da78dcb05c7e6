"""Issue 3 benchmarks (licensing, tenancy, execution). Plain script: ``python benchmarks/bench_core.py``.

Prints a table: figure, measured, target, ok?. Not part of the test run.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROWS: list[tuple[str, str, str, bool | None]] = []


def row(figure: str, measured: str, target: str, ok: bool | None) -> None:
    ROWS.append((figure, measured, target, ok))


def rate(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def bench_licensing() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from llmteam.cli._license_issuer import sign_key
    from llmteam.licensing import LicenseManager

    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = sign_key(private, "PRO", "BENCH", date(2099, 12, 31))
    LicenseManager.configure(public_key=base64.b64encode(public).decode())

    manager = LicenseManager(tier=None)
    start = time.perf_counter()
    manager.activate(key)  # the one Ed25519 verification of this key in this process
    first_ms = (time.perf_counter() - start) * 1000
    row("licence verification at start (Ed25519, once)", f"{first_ms:.2f} ms", "once per process", None)
    again_us = 1e6 / rate(lambda: manager.activate(key), 2000)
    row("activate() again (verified-key cache hit)", f"{again_us:.1f} us", "no re-verification", None)

    batch = 1_000_000
    per_s = rate(lambda: manager.has_feature("process_mining"), batch)
    row("has_feature (table hit)", f"{per_s:,.0f}/s", ">= 1,000,000/s", per_s >= 1_000_000)
    per_s = rate(lambda: manager.has_feature("sso"), batch)
    row("has_feature (miss, checks licence)", f"{per_s:,.0f}/s", ">= 1,000,000/s", per_s >= 1_000_000)
    per_s = rate(lambda: manager.has_tier(manager.tier), batch)
    row("has_tier", f"{per_s:,.0f}/s", "-", None)
    LicenseManager.configure(public_key=None)


class NoOp:
    name = "noop"

    async def process(self, data: dict[str, Any]) -> None:
        return None


def bench_execution() -> None:
    from llmteam.execution import ExecutionMode, ExecutorConfig, PipelineExecutor

    async def run(mode: ExecutionMode, n: int, rounds: int) -> float:
        executor = PipelineExecutor(ExecutorConfig(mode=mode, max_concurrent=100))
        agents = [NoOp() for _ in range(n)]
        await executor.execute_parallel(agents, {})  # warm-up
        best = 0.0
        for _ in range(rounds):
            start = time.perf_counter()
            results = await executor.execute_parallel(agents, {})
            best = max(best, n / (time.perf_counter() - start))
            assert len(results) == n and all(r.success for r in results)
        return best

    per_s = asyncio.run(run(ExecutionMode.PARALLEL, 20_000, 3))
    row("PipelineExecutor no-op agents (parallel, 100)", f"{per_s:,.0f}/s", ">= 50,000/s", per_s >= 50_000)
    per_s = asyncio.run(run(ExecutionMode.SEQUENTIAL, 5_000, 3))
    row("PipelineExecutor no-op agents (sequential)", f"{per_s:,.0f}/s", "-", None)


def bench_tenancy() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_tenancy import collect

    for figure, measured, target in asyncio.run(collect()):
        row(figure, f"{measured:,.0f}", f">= {target:,}", measured >= target)


def main() -> None:
    bench_licensing()
    bench_tenancy()
    bench_execution()
    width = max(len(r[0]) for r in ROWS)
    print(f"{'figure':<{width}}  {'measured':>16}  {'target':>20}  ok?")
    for figure, measured, target, ok in ROWS:
        mark = "-" if ok is None else ("yes" if ok else "NO")
        print(f"{figure:<{width}}  {measured:>16}  {target:>20}  {mark}")


if __name__ == "__main__":
    main()
