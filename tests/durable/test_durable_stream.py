"""``stream(run_id)``: a durable run's events, written by a worker process, read live from this process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmteam.durable import DurableError, DurableRuntime, RunFailedError
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, RunEvent, Team, load_team

from .._support.chat_server import ChatServer
from .conftest import Worker


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_run_on_a_worker_process_streams_its_events_to_another_process(
        chat: ChatServer, team_file: Path, db: str) -> None:
    worker = Worker(team_file, db, executor_id=None)
    async with DurableRuntime(load_team(team_file), db, serve=False) as rt:
        run_id = await rt.submit({"query": "where is my parcel"}, tenant="acme")
        worker.start()
        try:
            events: list[RunEvent] = []
            async for event in rt.stream(run_id, timeout=120):  # live: the worker is still running the run
                events.append(event)
        finally:
            worker.stop()
        kinds = [e.kind for e in events]
        assert kinds[0] == "step_started" and kinds[-2:] == ["step_finished", "run_finished"], kinds
        assert [k for k in kinds if k != "token"] == ["step_started", "step_finished"] * 2 + ["run_finished"]
        for step, agent, answer in ((1, "first", "re: First: where is my parcel"),
                                    (2, "second", "re: Second: re: First: where is my parcel")):
            tokens = "".join(e.data["text"] for e in events if e.kind == "token" and e.step == step)
            assert tokens == answer  # the model's streamed tokens, in order, coalesced per step
            finished = next(e for e in events if e.kind == "step_finished" and e.step == step)
            assert (finished.agent, finished.data["output"]) == (agent, answer)
        last = events[-1]
        assert last.result is not None and last.result.output == last.data["output"] == answer
        assert last.result.run_id == run_id and last.data["usage"]["requests"] == 2
        again = [e async for e in rt.stream(run_id, offset=len(events) - 2)]  # a reconnecting reader
        assert [e.kind for e in again] == ["step_finished", "run_finished"]
        assert again[0] == events[-2]
        for offset in range(len(events)):  # an offset counts events, also inside a value written with others
            rest = [e async for e in rt.stream(run_id, offset=offset)]
            assert rest[:-1] == events[offset:-1] and rest[-1].kind == "run_finished"


def make_team(name: str, *agents: Agent) -> Team:
    return Team(name, llm=ScriptedLLM({"Classify": "billing"}, default="done"), agents=list(agents))


async def test_a_failed_run_raises_after_its_events_and_bad_reads_fail_clearly(tmp_path: Path) -> None:
    team = make_team("broken", Agent("x", prompt="Answer {query}"), Agent("a", prompt="Use {b}"),
                     Agent("b", prompt="Answer {query}"))
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "q"})
        seen: list[str] = []
        with pytest.raises(RunFailedError, match="PromptVariableError"):
            async for event in rt.stream(run_id, timeout=60):
                seen.append(event.kind)
        assert [k for k in seen if k != "token"] == ["step_started", "step_finished", "step_started"]
        with pytest.raises(DurableError, match="no durable run 'nope'"):
            [e async for e in rt.stream("nope")]
        with pytest.raises(DurableError, match="offset=-1 must be an integer >= 0"):
            [e async for e in rt.stream(run_id, offset=-1)]
        with pytest.raises(DurableError, match="run id '../x' must be"):
            rt.stream("../x")


async def test_a_queued_run_with_no_worker_times_out_per_event_and_a_cancelled_one_ends(tmp_path: Path) -> None:
    team = make_team("idle", Agent("a", prompt="Answer {query}"))
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme", serve=False) as rt:
        run_id = await rt.submit({"query": "q"})
        with pytest.raises(DurableError, match=f"run '{run_id}' published no event within 0.3s"):
            [e async for e in rt.stream(run_id, timeout=0.3)]
        await rt.cancel(run_id)
        with pytest.raises(DurableError, match="ended while the run is CANCELLED"):
            await asyncio.wait_for(anext(aiter(rt.stream(run_id))), 60)  # hang guard only


async def test_the_tokens_of_a_sealed_agent_never_reach_the_stream(tmp_path: Path) -> None:
    team = Team("sealed", llm=ScriptedLLM({"Secret": "the launch code is 1234"}, default="ok"), agents=[
        Agent("vault", prompt="Secret: {query}", sensitivity="secret"), Agent("clerk", prompt="Say {query}")])
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "q"})
        events = [e async for e in rt.stream(run_id, timeout=60)]
    assert "1234" not in repr([(e.kind, e.agent, dict(e.data)) for e in events[:-1]])
    assert [e.agent for e in events if e.kind == "token"] and {e.agent for e in events if e.kind == "token"} == {
        "clerk"}
