"""Attacks on the team runtime's main run path (issue 11, items 19-21): each makes the move and asserts it fails."""

from __future__ import annotations

from typing import Any

import pytest

from llmteam.llm import ScriptedLLM
from llmteam.ratelimit import RateLimitExceeded, RateLimitStrategy
from llmteam.team import Agent, Team


async def test_fallback_strategy_never_lets_a_refused_step_reach_the_model() -> None:
    # Item 19: FREE allows 10 requests a minute; a burst of 40 runs under FALLBACK must not all reach the model.
    llm = ScriptedLLM({}, default="ok")  # call_count counts the calls that reached it
    team = Team("burst", llm=llm, agents=[Agent("only", prompt="say {query}")])
    async with team.runtime("memory://", tenant="acme", rate_limit_strategy=RateLimitStrategy.FALLBACK) as rt:
        refused = 0
        for _ in range(40):
            try:
                await rt.run({"query": "hi"})
            except RateLimitExceeded:
                refused += 1
        # the bucket holds 10 tokens and refills one every 6 s; a slow machine may see one or two refills
        assert llm.call_count <= 12, f"{llm.call_count} of 40 runs reached the model on a 10/minute tier"
        assert refused == 40 - llm.call_count
        failed = [r for r in await rt.runs(limit=100) if r.status == "failed"]
        assert len(failed) == refused and all("RateLimitExceeded" in (r.error or "") for r in failed)


async def test_completion_audit_failure_still_finishes_the_run_and_frees_the_slot() -> None:
    # Item 20: if log_pipeline_completed raises, the run must not stay "running" and lock the tenant out.
    team = Team("t", llm=ScriptedLLM({}, default="ok"), agents=[Agent("a", prompt="x {query}")])
    async with team.runtime("memory://", tenant="acme") as rt:  # FREE: 1 concurrent pipeline
        real = rt.audit.log_pipeline_completed
        boom = RuntimeError("audit store unavailable")

        async def failing(*args: Any, **kwargs: Any) -> Any:
            raise boom

        rt.audit.log_pipeline_completed = failing  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="audit store unavailable"):
            await rt.run({"query": "q"}, run_id="first")
        record = await rt.get_run("first")
        assert record is not None and record.status == "failed" and "audit store unavailable" in (record.error or "")
        rt.audit.log_pipeline_completed = real  # type: ignore[method-assign]
        second = await rt.run({"query": "q"}, run_id="second")  # admitted: the slot was released
        assert second.output == "ok"


async def test_secret_agent_output_never_in_outputs_even_when_equal_to_the_final_output() -> None:
    # Item 21: a SECRET agent whose text equals the final answer ("ok" is an interned string) must stay hidden.
    llm = ScriptedLLM({"secret step": "ok"}, default="ok")
    team = Team("t", llm=llm, agents=[
        Agent("vault", prompt="secret step {query}", sensitivity="secret"),
        Agent("public", prompt="answer {query}"),
    ])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"query": "q"})
    assert result.output == "ok"
    assert result.outputs == {"public": "ok"}, result.outputs


async def test_secret_output_agent_is_still_the_answer() -> None:
    # the output agent's own text is the run's answer even when it is SECRET (it is result.output already)
    team = Team("t", llm=ScriptedLLM({}, default="sealed answer"), output="vault", agents=[
        Agent("prep", prompt="prep {query}"),
        Agent("vault", prompt="final {query}", sensitivity="secret"),
    ])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"query": "q"})
    assert result.output == "sealed answer" and result.outputs == {"prep": "sealed answer", "vault": "sealed answer"}
