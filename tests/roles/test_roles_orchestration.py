from datetime import timedelta

import pytest

from llmteam.roles import (
    OrchestrationContext,
    OrchestrationDecision,
    OrchestrationStrategy,
    OrchestratorRole,
    RuleBasedStrategy,
)


def ctx(step: str = "start", agents: list[str] | None = None) -> OrchestrationContext:
    return OrchestrationContext(step, agents if agents is not None else ["a", "b"], {}, [], {})


def test_enum_and_dataclass_shapes() -> None:
    assert OrchestratorRole.ORCHESTRATION.value == "orchestration"
    assert OrchestratorRole.PROCESS_MINING.value == "process_mining"
    d = OrchestrationDecision("route", ["a"], "r", 0.5)
    assert d.metadata == {} and d.metadata is not OrchestrationDecision("end", [], "", 1).metadata
    c = ctx()
    assert c.step_duration == timedelta(0) and c.retry_count == 0 and c.error_rate == 0.0
    c.retry_count = 3
    assert c.retry_count == 3


async def test_base_strategy_raises() -> None:
    with pytest.raises(NotImplementedError):
        await OrchestrationStrategy().decide(ctx())


async def test_default_sequence_walks_once_then_ends() -> None:
    s = RuleBasedStrategy()
    assert s.rules == []
    d = await s.decide(ctx("start"))
    assert (d.decision_type, d.target_agents, d.reason, d.confidence) == ("route", ["a"], "default_sequence", 1.0)
    assert (await s.decide(ctx("a"))).target_agents == ["b"]
    end = await s.decide(ctx("b"))
    assert (end.decision_type, end.target_agents, end.reason) == ("end", [], "no_more_agents")
    assert (await s.decide(ctx("start", []))).decision_type == "end"
    assert (await s.decide(ctx("gone"))).target_agents == ["a"]


async def test_rules_in_order_sync_and_async() -> None:
    calls: list[str] = []

    def none_rule(c: OrchestrationContext) -> None:
        calls.append("none")

    async def async_rule(c: OrchestrationContext) -> OrchestrationDecision:
        calls.append("async")
        return OrchestrationDecision("end", [], "async", 1.0)

    def never(c: OrchestrationContext) -> OrchestrationDecision:
        calls.append("never")
        return OrchestrationDecision("route", ["a"], "x", 1.0)

    s = RuleBasedStrategy()
    assert s.add_rule(none_rule).add_rule(async_rule).add_rule(never) is s
    d = await s.decide(ctx())
    assert d.reason == "async" and calls == ["none", "async"]


async def test_bad_rules_are_refused() -> None:
    with pytest.raises(TypeError, match="not callable"):
        RuleBasedStrategy().add_rule("nope")  # type: ignore[arg-type]
    s = RuleBasedStrategy().add_rule(lambda c: "route")
    with pytest.raises(TypeError, match="OrchestrationDecision"):
        await s.decide(ctx())


class Stateful:
    def __init__(self, status: str) -> None:
        self.status = status
        self.reads = 0

    def get_state(self) -> dict:
        self.reads += 1
        return {"status": self.status}


def test_step_context_reads_agent_states_on_first_access_once() -> None:
    """The orchestrator's context holds what the contract's eager build gives (get_state() or the placeholder per
    agent registered at the step), read once, when first accessed; contexts built the plain way are untouched."""
    from llmteam.roles._orchestration import step_context

    busy, plain = Stateful("busy"), object()
    agents = {"a": busy, "b": plain}
    c = step_context("start", agents, [], {"k": 1})
    agents["late"] = Stateful("late")  # registered after the step: not one of its agents
    assert busy.reads == 0 and c.available_agents == ["a", "b"]
    eager = OrchestrationContext("start", ["a", "b"], {"a": {"status": "busy"}, "b": {"status": "available"}},
                                 [], {"k": 1})
    assert c == eager and repr(c) == repr(eager) and busy.reads == 1
    assert c.agent_states is c.agent_states and busy.reads == 1
    assert vars(c) == vars(eager)
    fresh = step_context("start", {"b": plain}, [], {})
    assert fresh.agent_states["b"] is not step_context("start", {"b": plain}, [], {}).agent_states["b"]
    c.agent_states = {"x": {}}
    assert c.agent_states == {"x": {}}


def test_step_context_copies_pickles_and_replaces_like_a_plain_context() -> None:
    import copy
    import dataclasses
    import pickle

    from llmteam.roles._orchestration import step_context

    c = step_context("a", {"a": Stateful("idle"), "b": object()}, [{"step": "a"}], {})
    twin = copy.copy(c)
    assert twin.agent_states is c.agent_states  # shared, as a copied dict field is
    c2 = step_context("a", {"a": Stateful("idle")}, [], {})
    assert pickle.loads(pickle.dumps(c2)) == c2
    assert dataclasses.replace(c2, current_step="b").agent_states == {"a": {"status": "idle"}}
    assert dataclasses.asdict(c2)["agent_states"] == {"a": {"status": "idle"}}
    with pytest.raises(AttributeError):
        OrchestrationContext.agent_states  # noqa: B018  (a field without a class-level default, as before)
