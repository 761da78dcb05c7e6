"""Tool-call benchmarks: governance overhead per call, and a 10-round tool loop against LangGraph.

1. Governance overhead: one governed call (policy lookup and narrowing, sealed-value screening, argument validation,
   keyed digests, one audit record on SQLite, process-mining events, usage) beside the bare call of the same tool,
   interleaved, medians. Target: overhead <= 0.5 ms per call.
2. A 10-round tool loop: one agent whose model asks for a tool 10 times, then answers. llmteam runs it through the
   whole governed team runtime (memory:// stores) on a ScriptedLLM; LangGraph runs the same loop in its prebuilt
   tool-calling agent (``create_react_agent``) on a fake chat model, in a virtualenv this script creates
   (``.bench-venvs/langgraph``, outside src/ and never imported by llmteam). Batches alternate between the two;
   medians. Target: llmteam >= 3x faster.

Run: ``python benchmarks/bench_tools.py`` (``--quick`` for fewer repetitions; ``--no-langgraph`` skips part 2's peer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

from _machine import print_wake_penalty  # benchmarks/ is on sys.path
from bench_audit import COLUMNS, _ddl, _rows  # the audit row and table

from llmteam.audit import AuditTrail
from llmteam.audit.stores import MemoryAuditStore, SQLiteAuditStore, open_audit_store
from llmteam.context import SensitivityLevel
from llmteam.llm import ScriptedLLM, ToolCall
from llmteam.team import Agent, Team
from llmteam.tools import AgentTools, SealedValue, ToolPolicy, ToolScope, govern, govern_all, tool

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".bench-venvs" / "langgraph"
ROUNDS = 10


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# --- 1. governance overhead -----------------------------------------------------------------------------------

def _scope(store: Any) -> tuple[ToolScope, list[Any]]:
    trail = AuditTrail(store, tenant_id="bench", use_context_tenant=False)
    mined: list[Any] = []
    sealed = [SealedValue(f"vault{i}", SensitivityLevel.SECRET, f"secret-value-{i}-xyz") for i in range(5)]
    scope = ToolScope("bench", "run", "team", trail, ToolPolicy({"add": {"timeout": 5.0}}),
                      sealed=lambda: sealed, digest_key=b"k" * 32, mining=lambda *event: mined.append(event))
    return scope, mined


def _raw_commit_probe(path: Path, synchronous: str, count: int) -> Any:
    """One raw audit-row INSERT+COMMIT per call on its own file (WAL, ``synchronous``): the durability floor."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    for stmt in _ddl("audit_log")[:2]:
        conn.execute(stmt)
    insert = f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    pending = iter(_rows(count))

    def commit() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(insert, next(pending))
        conn.execute("COMMIT")

    return conn, commit


async def governance(n: int, batches: int, parallel: int = 16) -> None:
    agent = AgentTools("worker", SensitivityLevel.INTERNAL, {"add": add})
    args = {"a": 2, "b": 3}
    call = ToolCall.of("add", args)
    with tempfile.TemporaryDirectory() as tmp:
        full_store = SQLiteAuditStore(str(Path(tmp) / "audit.db"))  # the default: synchronous=FULL
        normal_store = open_audit_store(f"sqlite:///{tmp}/audit-normal.db?synchronous=normal")  # the opt-in
        (mem, mem_mined), (lite, lite_mined), (normal, normal_mined) = (
            _scope(MemoryAuditStore(max_records=n * 4)), _scope(full_store), _scope(normal_store))
        for scope in (mem, lite, normal):
            for _ in range(30):  # warm up (schema, sqlite connection, caches)
                await govern(scope, agent, call)
        raw_full, commit_full = _raw_commit_probe(Path(tmp) / "raw-full.db", "FULL", n * batches)
        raw_normal, commit_normal = _raw_commit_probe(Path(tmp) / "raw-normal.db", "NORMAL", n * batches)
        fsync_fd = os.open(Path(tmp) / "fsync.probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        keys = ("bare", "memory", "sqlite", "sqlite_par", "normal", "fsync", "commit_full", "commit_normal")
        wall: dict[str, list[float]] = {k: [] for k in keys}
        cpu: dict[str, list[float]] = {k: [] for k in keys}

        async def timed(key: str, calls: int, body: Any) -> None:
            c0, t0 = time.process_time(), time.perf_counter()
            await body()
            wall[key].append((time.perf_counter() - t0) / calls * 1e3)
            cpu[key].append((time.process_time() - c0) / calls * 1e3)

        async def bare() -> None:
            for _ in range(n):
                await add.handler(args)

        def sequential(scope: ToolScope) -> Any:
            async def body() -> None:
                for _ in range(n):
                    await govern(scope, agent, call)
            return body

        def repeated(step: Any) -> Any:
            async def body() -> None:
                for _ in range(n):
                    step()
            return body

        def fsync() -> None:
            os.write(fsync_fd, b"x" * 128)
            os.fsync(fsync_fd)

        groups = max(1, n // parallel)
        committer = lite.trail._group
        commits = 0
        turns = 0

        async def in_parallel() -> None:
            nonlocal commits, turns
            calls = [ToolCall.of("add", args) for _ in range(parallel)]
            before = committer.groups if committer is not None else 0
            for _ in range(groups):
                await govern_all(lite, agent, calls)
            commits += (committer.groups if committer is not None else 0) - before
            turns += groups

        for _ in range(batches):
            await timed("bare", n, bare)
            await timed("memory", n, sequential(mem))
            await timed("sqlite", n, sequential(lite))
            await timed("sqlite_par", groups * parallel, in_parallel)
            await timed("normal", n, sequential(normal))
            await timed("fsync", n, repeated(fsync))
            await timed("commit_full", n, repeated(commit_full))
            await timed("commit_normal", n, repeated(commit_normal))
            for mined in (mem_mined, lite_mined, normal_mined):
                mined.clear()
        os.close(fsync_fd)
        raw_full.close()
        raw_normal.close()
        await full_store.close()
        await normal_store.close()
    _print_governance(wall, cpu, parallel, commits / max(1, turns))


def _print_governance(wall: dict[str, list[float]], cpu: dict[str, list[float]], parallel: int,
                      commits_per_turn: float) -> None:
    w = {k: statistics.median(v) for k, v in wall.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"{'per tool call (medians)':<66} {'wall ms':>8} {'CPU ms':>8}   overhead vs bare: wall / CPU ms, "
          "target wall <= 0.500")
    print(f"{'bare tool call (await the handler)':<66} {w['bare']:>8.4f} {c['bare']:>8.4f}")
    for key, label, floor in (
        ("memory", "governed, audit in memory", None),
        ("sqlite", "governed, audit on SQLite (default FULL), one call at a time", "commit_full"),
        ("sqlite_par", f"governed, audit on SQLite (default FULL), {parallel} parallel calls", None),
        ("normal", "governed, audit on SQLite ?synchronous=normal (opt-in), one at a time", "commit_normal"),
    ):
        ow, oc = w[key] - w["bare"], c[key] - c["bare"]
        verdict = "ok" if ow <= 0.5 else "MISS"
        if floor is not None and ow > 0.5:
            verdict += f" (the commit alone costs {w[floor]:.3f} ms wall here)"
        print(f"{label:<66} {w[key]:>8.3f} {c[key]:>8.3f}   {ow:.3f} / {oc:.3f}  {verdict}")
    print("durability floor on this disk, measured in the same batches:")
    for key, label in (("fsync", "  one bare 128-byte append + fsync"),
                       ("commit_full", "  one raw SQLite audit-row INSERT+COMMIT, WAL, synchronous=FULL"),
                       ("commit_normal", "  one raw SQLite audit-row INSERT+COMMIT, WAL, synchronous=NORMAL")):
        print(f"{label:<66} {w[key]:>8.3f} {c[key]:>8.3f}")
    gov_full = c["sqlite"] - c["bare"] - c["commit_full"]
    gov_normal = c["normal"] - c["bare"] - c["commit_normal"]
    print(f"governance CPU per call beyond the bare call and the raw commit's own CPU: FULL {gov_full:.3f} ms, "
          f"NORMAL {gov_normal:.3f} ms (memory: {c['memory'] - c['bare']:.3f} ms)")
    print(f"wall overhead per call: FULL {w['sqlite'] - w['bare']:.3f} ms (of which one raw commit "
          f"{w['commit_full']:.3f} ms, one fsync {w['fsync']:.3f} ms), NORMAL {w['normal'] - w['bare']:.3f} ms, "
          f"{parallel} parallel FULL {w['sqlite_par'] - w['bare']:.3f} ms")
    print("  durability: by default a governed call returns only after its audit record is committed (SQLite WAL,\n"
          "  synchronous=FULL: one fsync per commit), so one call at a time costs at least one fsync; parallel calls\n"
          f"  of one turn share one commit (group commit: {commits_per_turn:.2f} commit(s) per turn of {parallel} "
          "calls).\n  ?synchronous=normal (opt-in) keeps acknowledged records through a process crash, not through "
          "a power loss.")


# --- 2. a 10-round tool loop -------------------------------------------------------------------------------------

def _respond(messages: list[dict[str, Any]]) -> Any:
    done = sum(m["role"] == "tool" for m in messages)
    return "done" if done >= ROUNDS else ToolCall.of("add", {"a": done, "b": 1})


async def llmteam_loop(reps: int, rt: Any) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        result = await rt.run({"q": "count"})
        assert result.usage.tool_calls == ROUNDS, result.usage
    return (time.perf_counter() - t0) / reps * 1000


LANGGRAPH_WORKER = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of langchain.agents; same loop
from typing import Any
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent

ROUNDS = int(sys.argv[1])

@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

class FakeToolModel(BaseChatModel):
    """Asks for `add` until it has seen ROUNDS tool results, then answers: the same script as the ScriptedLLM."""
    @property
    def _llm_type(self) -> str:
        return "fake-tool-model"
    def bind_tools(self, tools: Any, **kwargs: Any) -> "FakeToolModel":
        return self
    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        done = sum(isinstance(m, ToolMessage) for m in messages)
        if done >= ROUNDS:
            msg = AIMessage(content="done")
        else:
            msg = AIMessage(content="", tool_calls=[{"name": "add", "args": {"a": done, "b": 1}, "id": f"c{done}"}])
        return ChatResult(generations=[ChatGeneration(message=msg)])

agent = create_react_agent(FakeToolModel(), [add])
for line in sys.stdin:
    reps = int(line)
    t0 = time.perf_counter()
    for _ in range(reps):
        out = agent.invoke({"messages": [("user", "count")]}, {"recursion_limit": 4 * ROUNDS + 10})
        assert sum(isinstance(m, ToolMessage) for m in out["messages"]) == ROUNDS
    print(json.dumps({"ms": (time.perf_counter() - t0) / reps * 1000}), flush=True)
'''


def langgraph_python() -> Path:
    """The virtualenv's python, creating it and installing LangGraph on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} and installing langgraph (once)...", flush=True)
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "langgraph", "langchain-core"], check=True)
    return python


def start_langgraph() -> tuple[subprocess.Popen[str], str]:
    """The LangGraph worker process (reads a repetition count per line, answers ms per run) and its version."""
    python = langgraph_python()
    version = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('langgraph'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    worker = subprocess.Popen([str(python), "-c", LANGGRAPH_WORKER, str(ROUNDS)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    return worker, version


async def tool_loop(batches: int, reps: int, langgraph: tuple[subprocess.Popen[str], str] | None) -> None:
    worker, version = langgraph if langgraph is not None else (None, "")

    def langgraph_batch(n: int) -> float:
        assert worker is not None and worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(f"{n}\n")
        worker.stdin.flush()
        return float(json.loads(worker.stdout.readline())["ms"])

    team = Team("bench", llm=ScriptedLLM(respond=_respond), agents=[
        Agent("counter", prompt="Count {q}", tools=[add], max_tool_rounds=ROUNDS)])
    ours: list[float] = []
    theirs: list[float] = []
    try:
        async with team.runtime("memory://", tenant="bench", auto_create_tenant="enterprise") as rt:
            await llmteam_loop(3, rt)  # warm up
            if worker is not None:
                langgraph_batch(3)
            for _ in range(batches):
                ours.append(await llmteam_loop(reps, rt))
                if worker is not None:
                    theirs.append(langgraph_batch(reps))
    finally:
        if worker is not None and worker.stdin is not None:
            worker.stdin.close()
            worker.wait(10)
    mine = statistics.median(ours)
    print(f"{'10-round tool loop, llmteam (governed runtime, memory://)':<58} {mine:>9.2f} ms/run")
    if theirs:
        peer = statistics.median(theirs)
        print(f"{f'10-round tool loop, LangGraph {version} create_react_agent':<58} {peer:>9.2f} ms/run")
        print(f"{'speed-up (LangGraph / llmteam)':<58} {peer / mine:>9.1f} x     target >= 3.0 x  "
              f"{'ok' if peer / mine >= 3 else 'MISS'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-langgraph", action="store_true", help="skip the LangGraph peer")
    opts = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load average {load}; interleaved batches, medians",
          flush=True)
    print_wake_penalty()
    asyncio.run(governance(n=100 if opts.quick else 300, batches=5 if opts.quick else 9))
    langgraph = None if opts.no_langgraph else start_langgraph()
    asyncio.run(tool_loop(batches=5 if opts.quick else 9, reps=5 if opts.quick else 20, langgraph=langgraph))


if __name__ == "__main__":
    main()
