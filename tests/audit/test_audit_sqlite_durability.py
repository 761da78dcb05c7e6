"""SQLite: a writer SIGKILLed at random moments loses nothing acknowledged; two processes never fork a chain."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmteam.audit import AuditLedger, SigningKey
from llmteam.audit.stores import SQLiteAuditStore

WRITER = """
import asyncio, sys
from llmteam.audit import AuditTrail, AuditEventType
from llmteam.audit.stores import SQLiteAuditStore
async def main():
    t = AuditTrail(SQLiteAuditStore(sys.argv[1]), tenant_id="acme", use_context_tenant=False)
    for i in range(int(sys.argv[2])):
        r = await t.log(AuditEventType.DATA_CREATED, action=sys.argv[3] + str(i))
        print(r.sequence_number, flush=True)
asyncio.run(main())
"""

CONCURRENT_WRITER = """
import asyncio, sys
from llmteam.audit import AuditTrail, AuditEventType
from llmteam.audit.stores import SQLiteAuditStore
from llmteam.tenancy import TenantContext
async def main():
    t = AuditTrail(SQLiteAuditStore(sys.argv[1]))
    async def work(k):
        with TenantContext("acme" if k % 2 else "beta"):
            for i in range(100_000):
                r = await t.log(AuditEventType.DATA_CREATED, action=str(i))
                print(r.tenant_id, r.sequence_number, flush=True)
    await asyncio.gather(*(work(k) for k in range(32)))
asyncio.run(main())
"""


def spawn(db: Path, n: int, tag: str, script: str = WRITER) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", script, str(db), str(n), tag], stdout=subprocess.PIPE, env=env)


def drain(fd: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out.decode()
        if not chunk:
            return out.decode()
        out += chunk


async def kill_at_random_moment(proc: subprocess.Popen[bytes], rng: random.Random, at_least: float) -> str:
    """Once the writer has acknowledged a first line, let it run ``at_least`` + up to 0.8 s more, SIGKILL it, and
    return everything it printed. (Waiting for the first line keeps a slow start on a loaded machine from ending
    the run before anything was written; 120 s is only a hang guard.)"""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = ""
    started = time.monotonic()
    while "\n" not in buf and proc.poll() is None and time.monotonic() - started < 120:
        await asyncio.sleep(0.01)
        buf += drain(proc.stdout.fileno())
    deadline = time.monotonic() + at_least + rng.random() * 0.8
    while time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        buf += drain(proc.stdout.fileno())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    buf += drain(proc.stdout.fileno())
    proc.stdout.close()
    return buf


async def check(db: Path, expect_at_least: set[int], tenant: str = "acme") -> int:
    store = SQLiteAuditStore(db)
    try:
        res = await AuditLedger(store, SigningKey.generate()).verify(tenant)
        assert res.ok, res.problems
        last = await store.get_last_sequence(tenant)
        assert expect_at_least <= set(range(1, last + 1))
        return last
    finally:
        await store.close()


@pytest.mark.slow
async def test_sigkill_never_loses_acknowledged_records(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    acked: set[int] = set()
    rng = random.Random(4)
    for round_ in range(4):
        buf = await kill_at_random_moment(spawn(db, 100_000, f"r{round_}-"), rng, 0.4)
        acked |= {int(x) for x in buf.split()[:-1]}  # the last token may be half-written
        if buf.endswith("\n") and buf.split():
            acked.add(int(buf.split()[-1]))
    assert acked
    await check(db, acked)


@pytest.mark.slow
async def test_sigkill_during_group_commit_never_loses_acknowledged_records(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    acked: dict[str, set[int]] = {"acme": set(), "beta": set()}
    rng = random.Random(7)
    for _ in range(3):
        buf = await kill_at_random_moment(spawn(db, 0, "", CONCURRENT_WRITER), rng, 0.5)
        for line in buf.splitlines()[:-1]:  # the last line may be half-written
            tenant, seq = line.split()
            acked[tenant].add(int(seq))
    assert acked["acme"] and acked["beta"]
    for tenant, seqs in acked.items():
        await check(db, seqs, tenant)


async def test_two_processes_share_one_file_without_forking(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    procs = [spawn(db, 60, f"p{i}-") for i in range(2)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    seqs = [int(x) for out in outs for x in out.decode().split()]
    assert sorted(seqs) == list(range(1, 121))  # no sequence number handed out twice
    assert await check(db, set(seqs)) == 120


async def test_append_only_triggers(tmp_path: Path) -> None:
    import sqlite3

    from llmteam.audit import AuditEventType, AuditTrail

    store = SQLiteAuditStore(tmp_path / "a.db")
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log(AuditEventType.DATA_CREATED)
    await store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_log SET action = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
