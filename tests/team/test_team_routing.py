"""Routing: declared routes first, the LLM router as fallback, the default sequence last; bad targets fail loudly."""

from __future__ import annotations

import pytest

from llmteam.audit import AuditQuery
from llmteam.llm import OpenAICompatible, ScriptedLLM
from llmteam.ratelimit import RateLimitError, RateLimitStrategy
from llmteam.roles import OrchestrationContext, OrchestrationDecision, RuleBasedStrategy
from llmteam.team import Agent, Route, RoutingError, StepLimitError, Team
from llmteam.team._routing import ROUTER, CheckedStrategy, build_strategy

from .._support.chat_server import text_server

AGENTS = [Agent("a", prompt="p"), Agent("b", prompt="q"), Agent("c", prompt="r")]


def ctx(step: str, state: dict[str, object] | None = None) -> OrchestrationContext:
    return OrchestrationContext(step, ["a", "b", "c"], {}, [], state or {})


async def decide(team: Team, step: str, state: dict[str, object] | None = None) -> OrchestrationDecision:
    return await CheckedStrategy(build_strategy(team), team).decide(ctx(step, state))


async def test_default_sequence_without_routes() -> None:
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"))
    assert (await decide(team, "start")).target_agents == ["a"]
    assert (await decide(team, "a")).target_agents == ["b"]
    assert (await decide(team, "c")).decision_type == "end"


async def test_routes_first_match_wins() -> None:
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"),
                routes=[Route("a", "c", contains="urgent"), Route("a", "end"), Route("start", "b")])
    assert (await decide(team, "start")).target_agents == ["b"]
    d = await decide(team, "a", {"a": "URGENT please"})
    assert d.target_agents == ["c"] and d.reason.startswith("route:a->c")
    assert (await decide(team, "a", {"a": "calm"})).decision_type == "end"
    assert (await decide(team, "b")).target_agents == ["c"]  # no route after b: default sequence


async def test_llm_router_is_the_fallback() -> None:
    router = ScriptedLLM({"current_step": '{"decision": "route", "targets": ["c"], "reason": "llm", "confidence": 1}'})
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"), router=router, routes=[Route("start", "a")],
                router_prompt="step={current_step} current_step")
    assert (await decide(team, "start")).target_agents == ["a"]
    d = await decide(team, "a")
    assert d.target_agents == ["c"] and d.reason == "llm"
    assert router.calls[-1].startswith("step=a")


async def test_llm_router_garbage_falls_back_to_sequence() -> None:
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"), router=ScriptedLLM(default="I think b? {not json"))
    d = await decide(team, "a")
    assert d.target_agents == ["b"] and d.reason == "default_sequence"


async def test_llm_router_to_unknown_agent_is_an_error() -> None:
    router = ScriptedLLM(default='{"decision": "route", "targets": ["zed"]}')
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"), router=router)
    with pytest.raises(RoutingError, match="routed to 'zed'.*not an agent; agents are: a, b, c"):
        await decide(team, "a")


async def test_custom_rule_to_unknown_agent_and_unknown_type() -> None:
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"))
    inner = RuleBasedStrategy().add_rule(lambda c: OrchestrationDecision("route", ["nobody"], "custom", 1.0))
    with pytest.raises(RoutingError, match="'nobody'"):
        await CheckedStrategy(inner, team).decide(ctx("a"))
    weird = RuleBasedStrategy().add_rule(lambda c: OrchestrationDecision("teleport", [], "custom", 1.0))
    with pytest.raises(RoutingError, match="unknown decision 'teleport'"):
        await CheckedStrategy(weird, team).decide(ctx("a"))


async def test_step_limit_counts_decisions() -> None:
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"), max_steps=3)
    checked = CheckedStrategy(build_strategy(team), team)
    for _ in range(3):
        await checked.decide(ctx("a"))
    with pytest.raises(StepLimitError, match="max_steps=3"):
        await checked.decide(ctx("a"))


def _router_answer(model: str, prompt: str) -> str:
    if prompt.startswith("step=start"):
        return '{"decision": "route", "targets": ["b"], "reason": "llm", "confidence": 1}'
    if prompt.startswith("step="):
        return '{"decision": "end", "targets": [], "reason": "done", "confidence": 1}'
    return "agent answer"


async def test_router_model_calls_are_billed_and_audited() -> None:
    with text_server(_router_answer, lambda m: f"{m}-2024-07-18") as (base_url, seen):
        llm = OpenAICompatible(base_url=base_url, model="gpt-4o-mini", max_retries=0)
        router = OpenAICompatible(base_url=base_url, model="gpt-4o-mini", max_retries=0)
        team = Team("t", [Agent("a", prompt="p"), Agent("b", prompt="q")], llm=llm, router=router,
                    router_prompt="step={current_step}", prices={"gpt-4o-mini": (1.0, 2.0)})
        async with team.runtime("memory://", tenant="acme") as rt:
            result = await rt.run({})
            records = await rt.audit_store.query(AuditQuery(tenant_id="acme"))
        await llm.aclose()
        await router.aclose()
    assert [s.agent for s in result.steps] == ["b"] and len(seen) == 3  # router, agent b, router
    routed = result.usage_by_agent[ROUTER]
    assert routed.requests == 2 and routed.total_tokens == 240 and routed.cost == pytest.approx(2 * 0.14)
    assert result.usage.requests == 3 and result.usage.cost == pytest.approx(3 * 0.14)
    audited = [r for r in records if r.resource_type == "router"]
    assert len(audited) == 2 and all(r.action == "route" and r.metadata["cost"] == pytest.approx(0.14)
                                     for r in audited)


async def test_router_model_calls_count_against_the_tenants_rate_limit() -> None:
    with text_server(_router_answer, lambda m: m) as (base_url, seen):
        llm = OpenAICompatible(base_url=base_url, model="m", max_retries=0)
        router = OpenAICompatible(base_url=base_url, model="m", max_retries=0)
        team = Team("t", [Agent("a", prompt="p"), Agent("b", prompt="q")], llm=llm, router=router,
                    router_prompt="step={current_step}")
        async with team.runtime("memory://", tenant="acme", rate_limit_strategy=RateLimitStrategy.REJECT) as rt:
            config = await rt.ensure_tenant("acme")
            config.max_requests_per_minute = 2
            await rt.tenants.update_tenant(config)
            with pytest.raises(RateLimitError):
                await rt.run({})  # router + agent b use the 2 permits; the router's second call is refused
        await llm.aclose()
        await router.aclose()
    assert len(seen) == 2


def _fanout_team(targets: list[str], max_steps: int) -> tuple[Team, ScriptedLLM]:
    import json

    worker = ScriptedLLM(default="ok")
    router = ScriptedLLM(default=json.dumps({"decision": "route", "targets": targets}))
    return Team("t", [Agent("work", prompt="do {q}"), Agent("other", prompt="x {q}"), Agent("third", prompt="y")],
                llm=worker, router=router, max_steps=max_steps), worker


@pytest.mark.parametrize("targets, error, match", [
    (["work"] * 64, RoutingError, r"named an agent more than once in one decision \(64 targets, 1 distinct\)"),
    (["work", "other", "third"], StepLimitError, "routed to 3 agent.* to 3 agent steps, more than max_steps=2"),
])
async def test_one_router_answer_cannot_run_more_than_max_steps_agents(targets: list[str], error: type,
                                                                        match: str) -> None:
    """One decision naming ``work`` 64 times ran 128 agent steps (130 model requests) under max_steps=2."""
    team, worker = _fanout_team(targets, max_steps=2)
    async with team.runtime("memory://", tenant="acme", auto_create_tenant="enterprise") as rt:
        with pytest.raises(error, match=match):
            await rt.run({"q": "x"})
        [record] = await rt.runs()
    assert record.status == "failed" and record.steps == 0 and not worker.calls
    assert record.usage.requests == 1  # the router's answer only


async def test_every_target_counts_against_max_steps() -> None:
    team = Team("t", AGENTS, llm=ScriptedLLM(default="x"), max_steps=4)
    two = RuleBasedStrategy().add_rule(lambda c: OrchestrationDecision("route", ["a", "b"], "custom", 1.0))
    checked = CheckedStrategy(two, team)
    assert (await checked.decide(ctx("start"))).target_agents == ["a", "b"]
    assert (await checked.decide(ctx("b"))).target_agents == ["a", "b"]  # 4 steps: at the limit
    with pytest.raises(StepLimitError, match="would take the run to 6 agent steps, more than max_steps=4"):
        await checked.decide(ctx("b"))
    team, worker = _fanout_team(["work", "other"], max_steps=3)  # 2 steps, then the router asks for 2 more
    async with team.runtime("memory://", tenant="acme", auto_create_tenant="enterprise") as rt:
        with pytest.raises(StepLimitError):
            await rt.run({"q": "x"})
    assert len(worker.calls) == 2
