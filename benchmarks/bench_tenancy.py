"""Tenancy throughput: isolated memory get+set, SQLite KV reads and durable batched writes, cached check_limit.

Run: python benchmarks/bench_tenancy.py   (prints: figure, measured, target, ok?)
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from llmteam.tenancy import TenantConfig, TenantContext, TenantIsolatedStore, TenantManager, TenantTier
from llmteam.tenancy.stores import MemoryKeyValueStore, MemoryTenantStore, SQLiteKeyValueStore


async def _best_of(runs: int, fn: Callable[[], Awaitable[float]]) -> float:
    return max([await fn() for _ in range(runs)])


async def isolated_memory_ops() -> float:
    store = TenantIsolatedStore(MemoryKeyValueStore())
    n = 200_000
    with TenantContext("acme"):
        start = time.perf_counter()
        for i in range(n):
            key = "k" if i & 1 else "j"
            await store.set(key, i)
            await store.get(key)
        elapsed = time.perf_counter() - start
    return 2 * n / elapsed


async def sqlite_reads(path: Path) -> float:
    store = SQLiteKeyValueStore(path)
    await store.set_many({f"r{i}": {"i": i, "name": f"row {i}"} for i in range(10_000)})
    n = 100_000
    start = time.perf_counter()
    for i in range(n):
        await store.get(f"r{i % 10_000}")
    elapsed = time.perf_counter() - start
    await store.close()
    return n / elapsed


async def sqlite_durable_writes(path: Path) -> float:
    store = SQLiteKeyValueStore(path)  # synchronous=FULL: every committed batch is fsynced
    batch, batches = 2_000, 25
    payloads = [{f"w{b}:{i}": {"i": i, "batch": b} for i in range(batch)} for b in range(batches)]
    await store.set("warm", 1)
    start = time.perf_counter()
    for items in payloads:
        await store.set_many(items)
    elapsed = time.perf_counter() - start
    await store.close()
    return batch * batches / elapsed


async def cached_check_limit() -> float:
    manager = TenantManager(MemoryTenantStore())
    await manager.create_tenant(TenantConfig("acme", "Acme", TenantTier.PROFESSIONAL))
    n = 300_000
    start = time.perf_counter()
    for i in range(n):
        await manager.check_limit("acme", "concurrent_pipelines", i & 7)
    return n / (time.perf_counter() - start)


async def collect() -> list[tuple[str, float, int]]:
    """(figure, measured, target) for each tenancy target of issue 3; bench_core.py prints them too."""
    with tempfile.TemporaryDirectory() as tmp:
        return [
            ("isolated memory get+set (ops/s)", await _best_of(3, isolated_memory_ops), 1_000_000),
            ("SQLite KV reads (reads/s)", await _best_of(3, lambda: sqlite_reads(Path(tmp) / "r.db")), 50_000),
            (
                "SQLite KV durable writes via set_many (writes/s)",
                await _best_of(3, lambda: sqlite_durable_writes(Path(tmp) / "w.db")),
                20_000,
            ),
            ("TenantManager.check_limit, cached (checks/s)", await _best_of(3, cached_check_limit), 500_000),
        ]


async def main() -> None:
    rows = await collect()
    print(f"{'figure':<52} {'measured':>12} {'target':>12}  ok?")
    for name, measured, target in rows:
        print(f"{name:<52} {measured:>12,.0f} {target:>12,}  {'yes' if measured >= target else 'NO'}")


if __name__ == "__main__":
    asyncio.run(main())
