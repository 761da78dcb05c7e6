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


def test_step_context_reads_every_agent_state_before_the_strategy_decides() -> None:
    """Contract §7.3 step 1: the context is built with each agent's get_state() (or the placeholder), called when
    the step starts, once, whether or not the strategy looks: an error in get_state() fails the step at once."""
    from llmteam.roles._orchestration import step_context

    busy, plain = Stateful("busy"), object()
    agents = {"a": busy, "b": plain}
    c = step_context("start", agents, [], {"k": 1})
    assert busy.reads == 1
    agents["late"] = Stateful("late")  # registered after the step: not one of its agents
    assert c == OrchestrationContext("start", ["a", "b"], {"a": {"status": "busy"}, "b": {"status": "available"}},
                                     [], {"k": 1})
    assert c.agent_states is c.agent_states and busy.reads == 1
    fresh = step_context("start", {"b": plain}, [], {})
    assert fresh.agent_states["b"] is not step_context("start", {"b": plain}, [], {}).agent_states["b"]
    two = step_context("start", {"x": plain, "y": object()}, [], {}).agent_states
    assert two == {"x": {"status": "available"}, "y": {"status": "available"}} and two["x"] is not two["y"]

    class Broken:
        def get_state(self) -> dict:
            raise RuntimeError("state store down")

    with pytest.raises(RuntimeError, match="state store down"):
        step_context("start", {"x": Broken()}, [], {})


async def test_orchestrate_reads_states_at_every_step_even_if_the_strategy_never_looks() -> None:
    from llmteam.roles import PipelineOrchestrator

    class Agent(Stateful):
        async def process(self, state: dict) -> dict:
            return {}

    a, b = Agent("idle"), Agent("idle")
    orch = PipelineOrchestrator("p", enable_process_mining=False)
    orch.register_agent("a", a)
    orch.register_agent("b", b)
    await orch.orchestrate("r", {})  # the default strategy: a, b, end: three decisions
    assert (a.reads, b.reads) == (3, 3)
