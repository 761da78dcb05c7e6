"""Routing: declared routes first, the LLM router as fallback, the default sequence last; bad targets fail loudly."""

from __future__ import annotations

import pytest

from llmteam.llm import ScriptedLLM
from llmteam.roles import OrchestrationContext, OrchestrationDecision, RuleBasedStrategy
from llmteam.team import Agent, Route, RoutingError, StepLimitError, Team
from llmteam.team._routing import CheckedStrategy, build_strategy

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
