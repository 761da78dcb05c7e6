"""Audit benchmarks: append, verification, SQLite durability and Merkle proofs. Prints figure / measured / target."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from llmteam.audit import AuditEventType, AuditTrail, MerkleTree
from llmteam.audit._chain import verify_chain_range
from llmteam.audit.stores import MemoryAuditStore, SQLiteAuditStore
from llmteam.audit.verifier import leaf_hash, verify_inclusion
from llmteam.tenancy import TenantContext

EV = AuditEventType.DATA_CREATED
rows: list[tuple[str, float, float]] = []


def report(name: str, per_s: float, target: float) -> None:
    rows.append((name, per_s, target))
    print(f"{name:<48} {per_s:>12,.0f}/s  target {target:>9,.0f}/s  {'ok' if per_s >= target else 'MISS'}", flush=True)


async def memory(n: int) -> None:
    store = MemoryAuditStore(max_records=n)
    trail = AuditTrail(store, tenant_id="bench", use_context_tenant=False)
    t0 = time.perf_counter()
    for _ in range(n):
        await trail.log(EV, actor_id="alice", action="read", resource_type="doc", resource_id="d1")
    report("memory: AuditTrail.log (every field hashed)", n / (time.perf_counter() - t0), 100_000)
    t0 = time.perf_counter()
    res = await verify_chain_range(store, "bench", 1, n)
    assert res.valid
    report("memory: chain verification", n / (time.perf_counter() - t0), 300_000)


def raw_fsync_rate(d: str, n: int) -> float:
    """How many small append + fsync rounds this disk does per second (the ceiling for one-at-a-time commits)."""
    fd = os.open(Path(d) / "fsync.probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            os.write(fd, b"x" * 128)
            os.fsync(fd)
        return n / (time.perf_counter() - t0)
    finally:
        os.close(fd)


async def concurrent(store: SQLiteAuditStore, tasks: int, per_task: int, tenants: int) -> float:
    trail = AuditTrail(store)

    async def work(k: int) -> None:
        with TenantContext(f"group{k % tenants}"):
            for _ in range(per_task):
                await trail.log(EV, actor_id="alice")

    t0 = time.perf_counter()
    await asyncio.gather(*(work(k) for k in range(tasks)))
    return tasks * per_task / (time.perf_counter() - t0)


async def sqlite(n_single: int, n_batch: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        print(f"(this disk: {raw_fsync_rate(d, 300):,.0f} raw fsync/s)")
        store = SQLiteAuditStore(Path(d) / "a.db")
        trail = AuditTrail(store, tenant_id="bench", use_context_tenant=False)
        await trail.log(EV)
        t0 = time.perf_counter()
        for _ in range(n_single):
            await trail.log(EV, actor_id="alice")
        report("sqlite: durable log(), 1 sequential caller", n_single / (time.perf_counter() - t0), 5_000)
        per_task = max(1, 4 * n_single // 64)
        report("sqlite: durable log(), 64 tasks, group commit", await concurrent(store, 64, per_task, 1), 5_000)
        report("sqlite: durable log(), 64 tasks/8 tenants, grp", await concurrent(store, 64, per_task, 8), 5_000)
        batch = [{"event_type": EV, "actor_id": "alice"}] * 1000
        t0 = time.perf_counter()
        for _ in range(n_batch // 1000):
            await trail.log_many(batch)
        report("sqlite: durable log_many (batches of 1000)", n_batch / (time.perf_counter() - t0), 50_000)
        t0 = time.perf_counter()
        last = await store.get_last_sequence("bench")
        assert (await verify_chain_range(store, "bench", 1, last)).valid
        report("sqlite: chain verification", last / (time.perf_counter() - t0), 0)
        await store.close()


def merkle(n: int, proofs: int) -> None:
    t0 = time.perf_counter()
    tree = MerkleTree(hashlib.sha256(i.to_bytes(8, "big")).hexdigest() for i in range(n))
    print(f"(building a {n:,}-leaf tree took {time.perf_counter() - t0:.1f}s)")
    root, rng = tree.root(), random.Random(1)
    idx = [rng.randrange(n) for _ in range(proofs)]
    t0 = time.perf_counter()
    paths = [tree.inclusion_path(i) for i in idx]
    report(f"merkle: inclusion proof generation at {n:,}", proofs / (time.perf_counter() - t0), 10_000)
    leaves = [leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).hexdigest()) for i in idx]
    t0 = time.perf_counter()
    for i, leaf, path in zip(idx, leaves, paths, strict=True):
        assert verify_inclusion(i, n, leaf, path, root)
    report(f"merkle: inclusion proof checking at {n:,}", proofs / (time.perf_counter() - t0), 10_000)
    print(f"(proof size {32 * len(paths[0])} bytes ~ 32*log2(n) = {32 * (n - 1).bit_length()})")


def main() -> None:
    quick = "--quick" in sys.argv
    asyncio.run(memory(20_000 if quick else 200_000))
    asyncio.run(sqlite(500 if quick else 5_000, 10_000 if quick else 100_000))
    merkle(50_000 if quick else 1_000_000, 20_000)
    misses = [r for r in rows if r[1] < r[2]]
    print("all targets met" if not misses else f"{len(misses)} target(s) missed")


if __name__ == "__main__":
    main()
