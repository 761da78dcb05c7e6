"""Durable writes per agent step, counted: the fsync/fdatasync calls each side makes, by database file, under strace.

With ``journal_mode=WAL`` and ``synchronous=FULL`` (what LangGraph's ``SqliteSaver`` runs with, and what our
stores and DBOS's SQLite system database run with) every committed write transaction syncs the WAL once, so the
count of syncs on a ``-wal`` file is the count of commits to that database; checkpoints add a few syncs of the
database file itself. Each side runs in a child process twice, with 0 and with ``runs`` timed runs after the same
warm-up, and the difference is divided by the agent steps: start-up and warm-up cancel out.

``python benchmarks/_durable_writes.py durable|inproc RUNS`` is the child for our side (it prints the journal mode
and synchronous level of its databases); the LangGraph child is the peer script of ``bench_durable``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

SYNC = re.compile(r"^\d+\s+f(?:data)?sync\((\d+)<([^>]*)>\)\s+=\s+0")


def strace() -> str | None:
    """The strace binary, or None (the counts are then skipped, with the reason)."""
    return shutil.which("strace")


def syncs(command: list[str], stdin: str = "") -> tuple[Counter[str], str]:
    """fsync/fdatasync calls of ``command`` (and its threads/children) by the kind of file synced, and what it
    printed."""
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "strace.log"
        done = subprocess.run([str(strace()), "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", str(log), *command],
                       input=stdin, text=True, capture_output=True, check=True, timeout=600)
        found: Counter[str] = Counter()
        for line in log.read_text().splitlines():
            match = SYNC.match(line)
            if match:
                found[kind(match.group(2))] += 1
        return found, done.stdout


def kind(path: str) -> str:
    """``dbos`` (DBOS's system database), ``stores`` (llmteam's), ``langgraph`` (``-wal``: its log), or ``other``."""
    name = Path(path).name
    wal = "-wal" if name.endswith("-wal") else ""
    base = name.removesuffix("-wal")
    known = {"d.dbos.db": "dbos", "d.db": "stores", "lg.db": "langgraph", "floor.db": "dbos"}
    return known[base] + wal if base in known else "other"  # journals of throwaway files, directories


def per_step(command: list[str], runs: int, steps: int, stdin: str = "") -> tuple[dict[str, float], str]:
    """Syncs per agent step of ``command RUNS`` minus those of ``command 0``, by kind of file; and what the
    child said last (its databases' settings)."""
    base, _ = syncs([*command, "0"], stdin)
    measured, out = syncs([*command, str(runs)], stdin)
    said = [line for line in out.splitlines() if "synchronous=" in line]  # the settings line
    counts = {k: (measured[k] - base[k]) / (runs * steps) for k in sorted(set(base) | set(measured))}
    return counts, said[-1].removeprefix("ready ") if said else ""


def settings(path: str) -> str:
    """The journal mode of the SQLite file at ``path`` and the synchronous level a connection gets by default."""
    with sqlite3.connect(path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        level = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[conn.execute("PRAGMA synchronous").fetchone()[0]]
    return f"{Path(path).name}: {mode}, synchronous={level}"


async def _child(mode: str, runs: int) -> None:
    from bench_durable import team

    from llmteam.durable import DurableRuntime
    from llmteam.tenancy import TenantTier

    with tempfile.TemporaryDirectory() as d:
        if mode == "durable":
            async with DurableRuntime(team(), f"sqlite:///{d}/d.db", tenant="bench") as rt:
                await rt.runtime.ensure_tenant("bench", TenantTier.ENTERPRISE)
                for i in range(runs + 1):
                    await rt.run({"query": f"q{i}"}, timeout=60)
            print(settings(f"{d}/d.db"), "|", settings(f"{d}/d.dbos.db"))
        else:
            async with team().runtime(f"sqlite:///{d}/d.db", tenant="bench") as plain:
                await plain.ensure_tenant("bench", TenantTier.ENTERPRISE)
                for i in range(runs + 1):
                    await plain.run({"query": f"q{i}"})
            print(settings(f"{d}/d.db"))


FLOOR_STEPS = 100


async def _floor(steps: int) -> None:
    """One DBOS workflow of ``steps`` empty steps on a fresh SQLite system database (WAL, as ours); prints the
    CPU and wall milliseconds per step."""
    import time

    from dbos import DBOS

    async def nothing() -> int:
        return 1

    @DBOS.workflow(name="floor")
    async def workflow(n: int) -> int:
        return sum([await DBOS.run_step_async({"name": f"s{i}"}, nothing) for i in range(n)])

    with tempfile.TemporaryDirectory() as d:
        with sqlite3.connect(f"{d}/floor.db") as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        DBOS(config={"name": "bench_floor", "system_database_url": f"sqlite:///{d}/floor.db", "log_level": "WARNING"})
        DBOS.launch()
        try:
            await workflow(1)
            t0, c0 = time.perf_counter(), time.process_time()
            await workflow(steps)
            per = max(steps, 1)
            print((time.process_time() - c0) / per * 1000, (time.perf_counter() - t0) / per * 1000)
        finally:
            DBOS.destroy()


def dbos_floor() -> tuple[float, float, float]:
    """(ms CPU, ms wall, syncs) of one empty DBOS step: the least a checkpoint costs on this machine."""
    base, _ = syncs([sys.executable, __file__, "floor", "0"])
    measured, out = syncs([sys.executable, __file__, "floor", str(FLOOR_STEPS)])
    cpu, wall = map(float, out.split())
    return cpu, wall, (sum(measured.values()) - sum(base.values())) / FLOOR_STEPS


def ours(mode: str, runs: int, steps: int) -> tuple[dict[str, float], str]:
    """Our side's syncs per agent step: ``durable`` (a DBOS workflow) or ``inproc``."""
    return per_step([sys.executable, __file__, mode], runs, steps)


def show(label: str, counts: dict[str, float]) -> str:
    """``label: total /step (file a, file b ...)``: what one printed row says."""
    detail = ", ".join(f"{k} {v:.2f}" for k, v in counts.items() if abs(v) >= 0.005)
    return f"   {label:<34} {sum(counts.values()):6.2f} per step   ({detail})"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1] == "floor":
        asyncio.run(_floor(int(sys.argv[2])))
    else:
        asyncio.run(_child(sys.argv[1], int(sys.argv[2])))
