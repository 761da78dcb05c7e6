"""Audit benchmarks: append, verification, SQLite durability and Merkle proofs. Prints figure / measured / target.

First, side by side in one run with the raw driver on the same disk / server (interleaved rounds, medians):
durable ``log()`` vs raw INSERT+COMMIT (SQLite) and vs autocommit INSERT (asyncpg), ``log_many`` vs
``executemany``+COMMIT. ``--vs-raw`` prints only those, ``--memory`` only ``log()`` in memory beside a bare
SHA-256 chain over the same canonical bytes; ``--before REF`` compares ``log()`` in memory (CPU per record) with
the code at git ``REF``, alternating child processes; ``--quick`` shortens every run.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from _machine import print_wake_penalty

from llmteam.audit import AuditEventType, AuditRecord, AuditTrail, MerkleTree
from llmteam.audit._chain import verify_chain_range
from llmteam.audit.stores import MemoryAuditStore, SQLiteAuditStore, open_audit_store
from llmteam.audit.stores._postgres import _ddl as _pg_ddl
from llmteam.audit.stores._sql import COLUMNS, to_row
from llmteam.audit.stores._sqlite import _ddl
from llmteam.audit.verifier import leaf_hash, verify_inclusion
from llmteam.tenancy import TenantContext

EV = AuditEventType.DATA_CREATED
rows: list[tuple[str, float, float]] = []


def report(name: str, per_s: float, target: float) -> None:
    rows.append((name, per_s, target))
    print(f"{name:<48} {per_s:>12,.0f}/s  target {target:>9,.0f}/s  {'ok' if per_s >= target else 'MISS'}", flush=True)


def bare_chain(n: int) -> tuple[float, float]:
    """A bare SHA-256 chain over the same canonical bytes: per event the same fields (fresh id and time),
    the same canonical JSON, SHA-256, linked to the previous digest. Nothing else: no validation, no store.
    Returns (records/s wall, CPU seconds per record)."""
    prev = ""
    t0, c0 = time.perf_counter(), time.process_time()
    for seq in range(1, n + 1):
        body = {
            "record_id": str(uuid.uuid4()), "sequence_number": seq, "timestamp": datetime.now(timezone.utc).isoformat(),
            "event_type": EV.value, "severity": "info", "tenant_id": "bench", "pipeline_id": "", "run_id": "",
            "agent_name": "", "step_name": "", "actor_type": "system", "actor_id": "alice", "actor_ip": "",
            "actor_user_agent": "", "action": "read", "resource_type": "doc", "resource_id": "d1", "old_value": None,
            "new_value": None, "success": True, "error_message": "", "metadata": {}, "tags": [],
            "previous_checksum": prev,
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        prev = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


async def trail_log(n: int) -> tuple[float, float, float]:
    """(log() calls/s into a MemoryAuditStore, CPU seconds per call, chain verification records/s), ``n`` records."""
    store = MemoryAuditStore(max_records=n)
    trail = AuditTrail(store, tenant_id="bench", use_context_tenant=False)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await trail.log(EV, actor_id="alice", action="read", resource_type="doc", resource_id="d1")
    rate, cpu = n / (time.perf_counter() - t0), (time.process_time() - c0) / n
    t0 = time.perf_counter()
    assert (await verify_chain_range(store, "bench", 1, n)).valid
    return rate, cpu, n / (time.perf_counter() - t0)


def memory(n: int) -> None:
    """log() in memory beside the bare chain, interleaved rounds, medians; the target is absolute (>= 100k/s).

    The machine is shared, so beside records/s (wall) it prints CPU microseconds per record (process_time), which
    suffers less from other processes, and the load average before and after.
    """
    ours: list[float] = []
    bare: list[float] = []
    ours_cpu: list[float] = []
    bare_cpu: list[float] = []
    verify: list[float] = []
    for _ in range(ROUNDS):
        rate, cpu, checked = asyncio.run(trail_log(n))
        ours.append(rate)
        ours_cpu.append(cpu)
        verify.append(checked)
        rate, cpu = bare_chain(n)
        bare.append(rate)
        bare_cpu.append(cpu)
    mine, peer = statistics.median(ours), statistics.median(bare)
    mine_cpu, peer_cpu = statistics.median(ours_cpu) * 1e6, statistics.median(bare_cpu) * 1e6
    print(f"{'memory: AuditTrail.log vs bare SHA-256 chain, same bytes':<52} llmteam {mine:>9,.0f}/s  bare "
          f"{peer:>9,.0f}/s  = {mine / peer:.2f}x  (target >= 100,000/s) {'ok' if mine >= 100_000 else 'MISS'}",
          flush=True)
    print(f"{'  CPU per record (process_time)':<52} llmteam {mine_cpu:>8.2f} us  bare {peer_cpu:>8.2f} us  "
          f"= {1e6 / mine_cpu:,.0f}/s of CPU  (load average after: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())})", flush=True)
    rows.append(("memory: AuditTrail.log", mine, 100_000))
    report("memory: chain verification", statistics.median(verify), 300_000)


def memory_child(n: int) -> None:
    """(child of --before) print this interpreter's llmteam path and CPU seconds per record: log(), bare chain."""
    import llmteam

    ours = asyncio.run(trail_log(n))[1]
    print(llmteam.__file__, ours, bare_chain(n)[1])


def memory_vs_before(ref: str, n: int) -> None:
    """log() in memory of this checkout beside the code at git ``ref`` (``--memory --before REF``).

    The two sides alternate as child processes (ROUNDS each); every child times log() and the bare chain, so each
    side's CPU per record is also seen relative to the bare chain of the same moment. Medians.
    """
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=root, capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as d:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(d, filter="data")
        sides = {ref: Path(d) / "src", "this checkout": root / "src"}
        cpu: dict[str, list[float]] = {side: [] for side in sides}
        rel: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(ROUNDS):
            for side, src in sides.items():
                out = subprocess.run(
                    [sys.executable, __file__, "--memory-child", str(n)], env={**os.environ, "PYTHONPATH": str(src)},
                    capture_output=True, text=True, check=True,
                ).stdout.split()
                if not out[0].startswith(str(src)):
                    raise SystemExit(f"the child imported llmteam from {out[0]}, not from {src}")
                ours, bare = float(out[1]), float(out[2])
                cpu[side].append(ours)
                rel[side].append(bare / ours)
    before, now = (statistics.median(cpu[side]) * 1e6 for side in sides)
    for side in sides:
        print(f"{'memory: log() CPU per record, ' + side:<52} {statistics.median(cpu[side]) * 1e6:>8.2f} us  "
              f"= {statistics.median(rel[side]):.2f}x the bare chain of the same child")
    print(f"{'memory: this checkout vs ' + ref:<52} {before / now:.2f}x faster (CPU per record, medians)")


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


# -- side by side with the raw driver on the same disk / server (interleaved rounds, medians) ------------------
PG_URL = os.environ.get("LLMTEAM_TEST_POSTGRES_URL", "postgresql://llmteam:llmteam@127.0.0.1:5432/llmteam_test")
ROUNDS = 9


BLOCK = 10  # single-caller appends per side before switching: the disk's fsync latency swings within seconds


def side_by_side(name: str, ours: list[float], raw: list[float], target: float, cpu: str = "") -> None:
    mine, theirs = statistics.median(ours), statistics.median(raw)
    ratio = mine / theirs
    print(f"{name:<52} llmteam {mine:>9,.0f}/s  raw {theirs:>9,.0f}/s  = {ratio:.2f}x  "
          f"(target >= {target:.2f}x) {'ok' if ratio >= target else 'MISS'}{cpu}", flush=True)
    rows.append((name, ratio, target))


def _rows(n: int) -> list[tuple[object, ...]]:
    """n rows in the audit table's column order, as many bytes as the store writes for a log() call: a uuid4
    record id and the checksum and previous checksum of a chain (64 hex digits each), so both sides write the
    same amount (the raw side's rows were ~100 bytes shorter before: a short id and an empty previous checksum)."""
    record = AuditRecord(record_id="r", sequence_number=1, timestamp=datetime.now(timezone.utc),
                         event_type=EV, tenant_id="raw", actor_id="alice")
    base = list(to_row(record))
    seq, rid, checksum, previous = (COLUMNS.index(c) for c in ("sequence_number", "record_id", "checksum",
                                                              "previous_checksum"))
    out = []
    prev = ""
    for i in range(n):
        base[seq], base[rid], base[previous] = i + 1, str(uuid.uuid4()), prev
        base[checksum] = prev = hashlib.sha256(f"{prev}{i}".encode()).hexdigest()
        out.append(tuple(base))
    return out


def _raw_autocommits(raw: sqlite3.Connection, insert: str, rows: list[tuple[object, ...]]) -> None:
    """One INSERT per row outside BEGIN: SQLite commits each statement by itself (what a lone log() now runs)."""
    for row in rows:
        raw.execute(insert, row)


def _raw_commits(raw: sqlite3.Connection, insert: str, chunks: list[list[tuple[object, ...]]]) -> float:
    """Seconds to write ``chunks`` with the raw driver, one BEGIN IMMEDIATE ... COMMIT per chunk."""
    t0 = time.perf_counter()
    for chunk in chunks:
        raw.execute("BEGIN IMMEDIATE")
        if len(chunk) == 1:  # one caller's row: a plain INSERT, as the single-caller baseline always was
            raw.execute(insert, chunk[0])
        else:
            raw.executemany(insert, chunk)
        raw.execute("COMMIT")
    return time.perf_counter() - t0


class Sides:
    """Wall and CPU seconds per side of one round, accumulated over its interleaved blocks."""

    def __init__(self) -> None:
        self.wall = {"ours": 0.0, "raw": 0.0, "auto": 0.0}
        self.cpu = {"ours": 0.0, "raw": 0.0, "auto": 0.0}

    async def timed(self, side: str, body: Any) -> None:
        c0, t0 = time.process_time(), time.perf_counter()
        result = body()
        if asyncio.iscoroutine(result):
            await result
        self.wall[side] += time.perf_counter() - t0
        self.cpu[side] += time.process_time() - c0


def _cpu_note(cpus: dict[str, list[float]], unit: str) -> str:
    ours, raw = statistics.median(cpus["ours"]), statistics.median(cpus["raw"])
    return f"\n{'':<52} CPU per {unit}: llmteam {ours:.1f} us, raw {raw:.1f} us (both threads)"


async def sqlite_vs_raw(n_single: int, n_batch: int) -> None:
    """log() and log_many beside the raw driver on the same disk, alternating in small blocks within each round
    (BLOCK appends, one 1000-row batch), so both sides see the same moment of a disk whose fsync latency swings."""
    insert_cols = ", ".join(COLUMNS)
    with tempfile.TemporaryDirectory() as d:
        store = SQLiteAuditStore(Path(d) / "ours.db")
        trail = AuditTrail(store, tenant_id="bench", use_context_tenant=False)
        await trail.log(EV)
        raw = sqlite3.connect(Path(d) / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=FULL")
        for stmt in _ddl("audit_log")[:2]:
            raw.execute(stmt)
        insert = f"INSERT INTO audit_log ({insert_cols}) VALUES ({', '.join('?' * len(COLUMNS))})"
        blocks, batches = max(1, n_single // BLOCK), max(1, n_batch // 1000)
        pending = iter(_rows(ROUNDS * (2 * blocks * BLOCK + batches * 1000)))
        single: tuple[list[float], list[float]] = ([], [])
        auto: dict[str, list[float]] = {"rate": [], "cpu": []}  # raw autocommit INSERT, for reference
        many: tuple[list[float], list[float]] = ([], [])
        cpu1: dict[str, list[float]] = {"ours": [], "raw": []}
        cpun: dict[str, list[float]] = {"ours": [], "raw": []}
        batch = [{"event_type": EV, "actor_id": "alice"}] * 1000

        async def appends() -> None:
            for _ in range(BLOCK):
                await trail.log(EV, actor_id="alice")

        for _ in range(ROUNDS):
            one, bulk = Sides(), Sides()
            for _ in range(blocks):
                chunks = [[next(pending)] for _ in range(BLOCK)]
                await one.timed("ours", appends)
                await one.timed("raw", partial(_raw_commits, raw, insert, chunks))
                await one.timed("auto", partial(_raw_autocommits, raw, insert, [next(pending) for _ in range(BLOCK)]))
            for _ in range(batches):
                chunk = [next(pending) for _ in range(1000)]
                await bulk.timed("ours", partial(trail.log_many, batch))
                await bulk.timed("raw", partial(_raw_commits, raw, insert, [chunk]))
            for sides, out, cpus, n in ((one, single, cpu1, blocks * BLOCK), (bulk, many, cpun, batches * 1000)):
                for i, side in enumerate(("ours", "raw")):
                    out[i].append(n / sides.wall[side])
                    cpus[side].append(sides.cpu[side] / n * 1e6)
            auto["rate"].append(blocks * BLOCK / one.wall["auto"])
            auto["cpu"].append(one.cpu["auto"] / (blocks * BLOCK) * 1e6)
        raw.close()
        await store.close()
    print("(both sides: one file each in the same directory, WAL, synchronous=FULL, BEGIN IMMEDIATE ... COMMIT: "
          f"one fsync of the WAL per commit; alternating every {BLOCK} appends / every batch)")
    side_by_side("sqlite: durable log(), 1 caller vs INSERT+COMMIT", *single, 0.9, _cpu_note(cpu1, "append"))
    rate, ratio = statistics.median(auto["rate"]), statistics.median(single[0]) / statistics.median(auto["rate"])
    print(f"{'':<52} (raw autocommit INSERT, one statement a commit as a lone log() runs it: {rate:,.0f}/s, "
          f"{statistics.median(auto['cpu']):.1f} us CPU; llmteam = {ratio:.2f}x of it; no target)")
    side_by_side("sqlite: log_many(1000) vs executemany+COMMIT", *many, 0.5, _cpu_note(cpun, "row"))


async def postgres_vs_raw(n: int) -> None:
    try:
        import asyncpg
        admin = await asyncpg.connect(PG_URL, timeout=3)
    except Exception as exc:
        print(f"(postgres: skipped, no server at {PG_URL}: {exc})")
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}"
    try:
        store = open_audit_store(url)
        trail = AuditTrail(store, tenant_id="bench", use_context_tenant=False)
        await trail.log(EV)
        raw = await asyncpg.connect(url)
        for stmt in _pg_ddl("raw_log")[:2]:  # the table and its (tenant_id, ts_us) index: what every append maintains
            await raw.execute(stmt)
        insert = (f"INSERT INTO raw_log ({', '.join(COLUMNS)}) "
                  f"VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))})")
        ours: list[float] = []
        theirs: list[float] = []
        cpus: dict[str, list[float]] = {"ours": [], "raw": []}
        blocks = max(1, n // BLOCK)
        pending = iter(_rows(ROUNDS * blocks * BLOCK))

        async def appends() -> None:
            for _ in range(BLOCK):
                await trail.log(EV, actor_id="alice")

        async def inserts(chunk: list[tuple[object, ...]]) -> None:
            for row in chunk:
                await raw.execute(insert, *row)  # autocommit: one durable statement per row

        for _ in range(ROUNDS):
            sides = Sides()
            for _ in range(blocks):
                await sides.timed("ours", appends)
                await sides.timed("raw", partial(inserts, [next(pending) for _ in range(BLOCK)]))
            ours.append(blocks * BLOCK / sides.wall["ours"])
            theirs.append(blocks * BLOCK / sides.wall["raw"])
            for side in cpus:
                cpus[side].append(sides.cpu[side] / (blocks * BLOCK) * 1e6)
        await raw.close()
        await store.close()
        print("(both sides: the same server and database, the server's own fsync/synchronous_commit settings; "
              f"alternating every {BLOCK} appends)")
        side_by_side("postgres: durable log(), 1 caller vs autocommit INSERT", ours, theirs, 0.8,
                     _cpu_note(cpus, "append (this process only)"))
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def main() -> None:
    if "--memory-child" in sys.argv:
        memory_child(int(sys.argv[sys.argv.index("--memory-child") + 1]))
        return
    quick = "--quick" in sys.argv
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load average {load}; {time.strftime('%Y-%m-%d')}")
    if "--before" in sys.argv:
        memory_vs_before(sys.argv[sys.argv.index("--before") + 1], 5_000 if quick else 20_000)
        return
    if "--memory" in sys.argv:
        memory(10_000 if quick else 30_000)
        return
    print(f"-- vs the raw driver ({ROUNDS} interleaved rounds, medians) --")
    print_wake_penalty()
    asyncio.run(sqlite_vs_raw(100 if quick else 300, 3_000 if quick else 10_000))
    asyncio.run(postgres_vs_raw(300 if quick else 2_000))
    if "--vs-raw" in sys.argv:
        return
    memory(10_000 if quick else 30_000)
    asyncio.run(sqlite(500 if quick else 5_000, 10_000 if quick else 100_000))
    merkle(50_000 if quick else 1_000_000, 20_000)
    misses = [r for r in rows if r[1] < r[2]]
    print("all targets met" if not misses else f"{len(misses)} target(s) missed")


if __name__ == "__main__":
    main()
