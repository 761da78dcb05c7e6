"""The seam and the engine: every effect a re-executed step could repeat is found by its ``find``; DBOS steps
are named and checkpointed; ``import llmteam`` never imports dbos, and without dbos runs stay in process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from dbos import DBOS

from llmteam.durable import DurableRuntime
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, StepRunner, Team

T = TypeVar("T")


class CrashAfterEveryWrite(StepRunner):
    """Runs each effect, then plays the step re-executed after a crash: its ``find`` must see the write."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.missed: list[str] = []

    async def step(self, name: str, effect: Callable[[], Awaitable[T]],
                   find: Callable[[], Awaitable[T | None]] | None = None) -> T:
        self.names.append(name)
        result = await effect()
        if find is not None and await find() is None:
            self.missed.append(name)
        return result


def team(*agents: Agent) -> Team:
    return Team("seam", llm=ScriptedLLM({"Classify": "billing"}, default="done"), agents=list(agents))


@pytest.mark.parametrize("url", ["sqlite", "memory"])
async def test_every_find_sees_its_own_write(tmp_path: Path, url: str) -> None:
    store = f"sqlite:///{tmp_path}/s.db" if url == "sqlite" else "memory://"
    good = team(Agent("triage", prompt="Classify: {query}"), Agent("answer", prompt="Reply {triage}"))
    bad = team(Agent("a", prompt="Use {b}"), Agent("b", prompt="Answer {query}"))
    for t, fails in ((good, False), (bad, True)):
        async with t.runtime(store, tenant="acme") as rt:
            runner = CrashAfterEveryWrite()
            rt.steps = runner
            if fails:
                with pytest.raises(Exception, match="has not run"):
                    await rt.run({"query": "q"})
            else:
                await rt.run({"query": "q"})
            assert runner.missed == []
            expected = (["admit", "audit:started", "audit:failed:1", "audit:failed", "events", "finish"] if fails
                        else ["admit", "audit:started", "model:1", "audit:1", "model:2", "audit:2",
                              "audit:completed", "events", "finish"])
            assert runner.names == expected
            assert await rt.verify_audit() == (True, [])


async def test_a_durable_run_checkpoints_each_effect_as_a_named_step(tmp_path: Path) -> None:
    t = team(Agent("triage", prompt="Classify: {query}"), Agent("answer", prompt="Reply {triage}"))
    async with DurableRuntime(t, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "q"})
        await rt.result(run_id, timeout=60)
        steps = [s["function_name"] for s in await DBOS.list_workflow_steps_async(run_id)]
        assert [s for s in steps if not s.startswith("DBOS.")] == [
            "queued", "admit", "audit:started", "model:1", "audit:1", "model:2", "audit:2", "audit:completed",
            "events", "finish", "wait:queue"]
        # the run's stream: one checkpointed write per event between steps, and the close
        assert [s for s in steps if s.startswith("DBOS.")] == ["DBOS.writeStream"] * 4 + ["DBOS.closeStream"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_llmteam_never_imports_dbos() -> None:
    done = _python("import sys, llmteam, llmteam.team, llmteam.cli; print('dbos' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_dbos_runs_stay_in_process_and_durable_says_what_to_install() -> None:
    code = (
        "import sys, asyncio\n"
        "sys.modules['dbos'] = None\n"  # as if the extra were not installed
        "from llmteam.team import Agent, Team\n"
        "from llmteam.llm import ScriptedLLM\n"
        "t = Team('x', llm=ScriptedLLM(default='ok'), agents=[Agent('a', prompt='Hi {q}')])\n"
        "async def main():\n"
        "    async with t.runtime('memory://', tenant='acme') as rt:\n"
        "        print((await rt.run({'q': '1'})).output)\n"
        "asyncio.run(main())\n"
        "try:\n"
        "    import llmteam.durable\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "ok"
    assert "pip install 'llmteam[durable]'" in out[1]


def test_a_second_system_database_in_one_process_is_refused(tmp_path: Path) -> None:
    from llmteam.durable._engine import ENGINE, DurableError
    ENGINE.system_db, ENGINE.executor_id = "sqlite:///a.db", "w"
    try:
        async def launch() -> Any:
            ENGINE.launch("sqlite:///b.db", "w")
        import asyncio
        with pytest.raises(DurableError, match="one process serves one system database"):
            asyncio.run(launch())
    finally:
        ENGINE.system_db = ENGINE.executor_id = None
