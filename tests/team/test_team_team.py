"""Team and Agent definitions are validated when built, with errors naming the bad value."""

from __future__ import annotations

from typing import Any

import pytest

from llmteam.context import SensitivityLevel
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Route, RoutingError, Team, TeamConfigError, TeamError

LLM = ScriptedLLM(default="x")


def test_agent_defaults_and_variables() -> None:
    agent = Agent("a", prompt="Hi {name}, see {b}", sensitivity="confidential")
    assert agent.variables == ("name", "b") and agent.sensitivity is SensitivityLevel.CONFIDENTIAL


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "1abc", "prompt": "p"}, "agent name '1abc'"),
        ({"name": "has space", "prompt": "p"}, "has space"),
        ({"name": "end", "prompt": "p"}, "reserved"),
        ({"name": "a", "prompt": ""}, "non-empty"),
        ({"name": "a", "prompt": "use {a}"}, "its own output"),
        ({"name": "a", "prompt": "p", "sensitivity": "ultra"}, "sensitivity 'ultra'"),
        ({"name": "a", "prompt": "p", "llm": object()}, "not a provider"),
        ({"name": "a", "prompt": "p", "options": []}, "options must be a mapping"),
    ],
)
def test_bad_agents(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TeamConfigError, match=match):
        Agent(**kwargs)  # type: ignore[arg-type]


def test_bad_teams() -> None:
    with pytest.raises(TeamConfigError, match="no agents"):
        Team("t", [], llm=LLM)
    with pytest.raises(TeamConfigError, match="two agents are named 'a'"):
        Team("t", [Agent("a", prompt="p"), Agent("a", prompt="q")], llm=LLM)
    with pytest.raises(TeamConfigError, match="agent 'a' has no llm"):
        Team("t", [Agent("a", prompt="p")])
    with pytest.raises(RoutingError, match="route to 'ghost' names no agent; agents are: a"):
        Team("t", [Agent("a", prompt="p")], llm=LLM, routes=[Route("a", "ghost")])
    with pytest.raises(RoutingError, match="route after 'ghost'"):
        Team("t", [Agent("a", prompt="p")], llm=LLM, routes=[Route("ghost", "a")])
    with pytest.raises(TeamConfigError, match="max_steps=0"):
        Team("t", [Agent("a", prompt="p")], llm=LLM, max_steps=0)
    with pytest.raises(TeamConfigError, match="run_timeout=-1"):
        Team("t", [Agent("a", prompt="p")], llm=LLM, run_timeout=-1)
    with pytest.raises(TeamConfigError, match="output 'zz'"):
        Team("t", [Agent("a", prompt="p")], llm=LLM, output="zz")
    with pytest.raises(TeamConfigError, match="team name"):
        Team("bad name", [Agent("a", prompt="p")], llm=LLM)


def test_lookup() -> None:
    team = Team("t", [Agent("a", prompt="p"), Agent("b", prompt="q", llm=ScriptedLLM(model="other"))], llm=LLM)
    assert team.agent_names == ["a", "b"] and team.llm_for(team.agent("a")) is LLM
    assert team.llm_for(team.agent("b")).model == "other"
    with pytest.raises(RoutingError, match="no agent 'c'; agents are: a, b"):
        team.agent("c")
    assert "Team('t'" in repr(team)


def test_route_matching() -> None:
    r = Route("a", "b", contains="REFUND")
    assert r.matches("a", {"a": "please refund me"})
    assert not r.matches("a", {"a": "nothing"}) and not r.matches("b", {"a": "refund"})
    assert Route("a", "b", contains="x", key="query").matches("a", {"query": "X marks"})
    assert Route("start", "b").matches("start", {})


@pytest.mark.parametrize("data, fragment", [
    ({"query": "\ud800"}, "run input 'query' holds half of a UTF-16 surrogate pair"),
    ({"query": ["ok", {"deep": "x\udfff"}]}, "run input 'query' holds half"),
])
def test_run_input_that_is_not_unicode_text_is_refused_by_name(data: dict[str, Any], fragment: str) -> None:
    team = Team("t", llm=ScriptedLLM(default="x"), agents=[Agent("a", prompt="{query}")])
    with pytest.raises(TeamError, match=fragment):
        team.check_input(data)


def test_run_input_nested_too_deeply_is_refused_not_a_recursion_error() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    team = Team("t", llm=ScriptedLLM(default="x"), agents=[Agent("a", prompt="{query}")])
    with pytest.raises(TeamError, match="nested too deeply"):
        team.check_input({"query": deep})


@pytest.mark.parametrize("option", ["model", "messages", "stream", "tools"])
def test_options_may_not_choose_the_model_or_what_the_runtime_decides(option: str) -> None:
    """``options: {model: o1-pro}`` called o1-pro but priced, rate-limited and traced the provider's cheap model."""
    with pytest.raises(TeamConfigError, match=f"agent 'a': options may not set '{option}'"):
        Agent("a", prompt="p", options={option: "o1-pro", "temperature": 0})
    assert Agent("a", prompt="p", options={"temperature": 0, "max_tokens": 5}).options["max_tokens"] == 5


def test_a_providers_default_options_may_not_choose_the_model_either() -> None:
    from llmteam.llm import OpenAICompatible

    sneaky = OpenAICompatible("http://127.0.0.1:9/v1", "cheap-mini", api_key="k", default_options={"model": "o1-pro"})
    for kwargs in ({"llm": sneaky}, {"llm": LLM, "router": sneaky}):
        with pytest.raises(TeamConfigError, match="default_options: options may not set 'model'"):
            Team("t", [Agent("a", prompt="p")], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TeamConfigError, match="agent 'a': llm default_options: options may not set 'model'"):
        Team("t", [Agent("a", prompt="p", llm=sneaky)], llm=LLM)


@pytest.mark.parametrize("limits, match", [
    ({"max_steps": 10**21}, "max_steps=1000000000000000000000 must be an integer from 1 to 100_000"),
    ({"max_steps": 100_001}, "max_steps=100001"),
    ({"run_timeout": float("nan")}, "run_timeout=nan must be a number of seconds above 0 and at most 86400"),
    ({"run_timeout": float("inf")}, "run_timeout=inf"),
    ({"run_timeout": 1e300}, "run_timeout=1e[+]300"),
    ({"run_timeout": 86_401}, "run_timeout=86401"),
])
def test_limits_are_bounded(limits: dict[str, Any], match: str) -> None:
    """``max_steps: 10**21`` loaded and then failed every run with OverflowError, leaving its record running and its
    tenant's slot held; ``run_timeout: .nan`` failed every run at the store, ``1e300`` made a lease that never ends."""
    with pytest.raises(TeamConfigError, match=match):
        Team("t", [Agent("a", prompt="p")], llm=LLM, **limits)
    Team("t", [Agent("a", prompt="p")], llm=LLM, max_steps=100_000, run_timeout=86_400)
