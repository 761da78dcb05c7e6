"""The seam and the engine: every effect a re-executed step could repeat is found by its ``find``; DBOS steps
are named and checkpointed; ``import llmteam`` never imports dbos, and without dbos runs stay in process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from dbos import DBOS

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.durable import DurableRuntime
from llmteam.durable._engine import recover_executors
from llmteam.llm import ScriptedLLM
from llmteam.roles import WAIT_LIFECYCLE
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
        # the writes that close the run (completion record, events, run record, queue wait) are no checkpoints:
        # each is found by its key when a resumed run replays them
        assert [s for s in steps if not s.startswith("DBOS.")] == [
            "queued", "admit", "audit:started", "model:1", "audit:1", "model:2", "audit:2", "closing"]
        # the run's stream: one checkpointed write per gap between steps ([step_started 1], [last tokens of 1,
        # step_finished 1, step_started 2]), the rest with the close
        assert [s for s in steps if s.startswith("DBOS.")] == ["DBOS.writeStream"] * 3 + ["DBOS.closeStream"]
        values = [v async for v in rt.client.read_stream_async(run_id, "llmteam.events")]
        assert [[e["kind"] for e in (v if isinstance(v, list) else [v])] for v in values] == [
            ["step_started"], ["token", "step_finished", "step_started"], ["token", "step_finished"]]
        run = await rt.runtime.get_run(run_id)
        assert run is not None and run.status == "completed"
        assert await rt.runtime.event_log.count(tenant_id="acme", case_id=run_id) > 0
        assert await rt.runtime.verify_audit("acme") == (True, [])


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


async def test_a_resumed_run_finds_the_closing_writes_it_made_and_makes_the_rest_once(tmp_path: Path) -> None:
    """The writes that close a run are no checkpoints: a run whose worker stopped half-way through them (here
    its task dies while finishing the run record, leaving the run PENDING as a killed worker does) and that DBOS's
    recovery resumes replays every step, finds the completion record and the mining events it wrote, and writes
    only what is missing: each exactly once."""
    t = team(Agent("triage", prompt="Classify: {query}"), Agent("answer", prompt="Reply {triage}"))
    async with DurableRuntime(t, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        store = rt.runtime.run_store
        finish = store.finish
        died = asyncio.Event()

        async def dies_once(record: Any) -> Any:
            if not died.is_set():
                died.set()
                raise asyncio.CancelledError  # the attempt stops here, as in a killed process: no outcome recorded
            return await finish(record)

        store.finish = dies_once  # type: ignore[method-assign]
        run_id = await rt.submit({"query": "q"})
        await asyncio.wait_for(died.wait(), 60)  # hang guard only
        while (await rt.status(run_id)).status != "PENDING":  # hang guard: the test's timeout
            await asyncio.sleep(0.05)
        record = await rt.runtime.get_run(run_id)
        assert record is not None and record.status == "running"  # the one write that did not land
        assert await asyncio.to_thread(recover_executors, [rt.executor_id]) == 1  # DBOS's own recovery path
        result = await rt.result(run_id, timeout=60)
        assert result.output == "done" and result.usage.requests == 2
        record = await rt.runtime.get_run(run_id)
        assert record is not None and record.status == "completed" and record.usage.requests == 2
        async with rt.runtime.tenants.context("acme"):
            audit = await rt.runtime.audit.query(AuditQuery(run_id=run_id, limit=100))
        kinds = Counter((r.event_type, r.step_name or None) for r in audit)
        assert kinds == Counter({(AuditEventType.PIPELINE_STARTED, None): 1, (AuditEventType.AGENT_COMPLETED, "1"): 1,
                                 (AuditEventType.AGENT_COMPLETED, "2"): 1,
                                 (AuditEventType.PIPELINE_COMPLETED, None): 1})
        events = [e async for e in rt.runtime.event_log.iterate(tenant_id="acme", case_id=run_id)]
        assert len({e.event_id for e in events}) == len(events)
        assert Counter((e.activity, e.lifecycle) for e in events) == Counter({
            ("triage", "start"): 1, ("triage", "complete"): 1, ("answer", "start"): 1, ("answer", "complete"): 1,
            ("wait:queue", WAIT_LIFECYCLE): 1})
        assert await rt.runtime.verify_audit("acme") == (True, [])


async def test_a_run_cancelled_mid_step_makes_no_closing_write_and_completes_once_when_resumed(tmp_path: Path) -> None:
    """The closing writes are no checkpoints, but the ``closing`` step before them is: DBOS refuses it for a
    cancelled run, so a run cancelled in the middle of a model call records neither a failure nor a completion,
    and finishes exactly once when resumed."""
    t = Team("slow", llm=ScriptedLLM({"Classify": "billing"}, default="done", delay=1.0),
             agents=[Agent("triage", prompt="Classify: {query}"), Agent("answer", prompt="Reply {triage}")])
    async with DurableRuntime(t, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "q"})
        while await rt.runtime.get_run(run_id) is None:  # admitted: its first model call (1 s) is under way
            await asyncio.sleep(0.02)
        await rt.cancel(run_id)
        while (await rt.status(run_id)).status != "CANCELLED":  # hang guard: the test's timeout
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # the attempt unwinds after its model call (checked below, not timed)
        async with rt.runtime.tenants.context("acme"):
            before = await rt.runtime.audit.query(AuditQuery(run_id=run_id, limit=100))
        assert {r.event_type for r in before} <= {AuditEventType.PIPELINE_STARTED, AuditEventType.AGENT_COMPLETED}
        record = await rt.runtime.get_run(run_id)
        assert record is not None and record.status == "running"
        assert await rt.runtime.event_log.count(tenant_id="acme", case_id=run_id) == 0
        await rt.resume(run_id)
        result = await rt.result(run_id, timeout=60)
        assert result.output == "done"
        async with rt.runtime.tenants.context("acme"):
            after = await rt.runtime.audit.query(AuditQuery(run_id=run_id, limit=100))
        assert Counter(r.event_type for r in after) == Counter({AuditEventType.PIPELINE_STARTED: 1,
                                                                AuditEventType.AGENT_COMPLETED: 2,
                                                                AuditEventType.PIPELINE_COMPLETED: 1})
        record = await rt.runtime.get_run(run_id)
        assert record is not None and record.status == "completed" and record.usage.requests == 2
        assert await rt.runtime.verify_audit("acme") == (True, [])
