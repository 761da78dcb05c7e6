"""Acceptance tests for API contract §7 (llmteam.roles), written from the contract text only."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

import pytest

import llmteam.roles as roles
from llmteam.roles import (
    ContentBasedRoutingStrategy,
    GroupDecisionType,
    GroupOrchestrationDecision,
    GroupOrchestrationStrategy,
    GroupOrchestrator,
    LLMBasedStrategy,
    LoadBalancingStrategy,
    OrchestrationContext,
    OrchestrationDecision,
    OrchestrationStrategy,
    OrchestratorRole,
    ParallelFanOutStrategy,
    PipelineOrchestrator,
    PipelineStatus,
    ProcessEvent,
    ProcessMetrics,
    ProcessMiningEngine,
    ProcessModel,
    RuleBasedStrategy,
)

T0 = datetime(2024, 5, 1, 12, 0, 0)


def ev(case: str, activity: str, minutes: float, lifecycle: str = "complete", duration_ms: int = 0,
       **attrs: Any) -> ProcessEvent:
    return ProcessEvent(str(uuid.uuid4()), T0 + timedelta(minutes=minutes), activity, "res", case, lifecycle,
                        duration_ms, 0.0, attrs)


def ctx(step: str = "start", agents: list[str] | None = None, **kw: Any) -> OrchestrationContext:
    return OrchestrationContext(step, agents if agents is not None else [], {}, [], {}, **kw)


def test_exports_and_light_import() -> None:
    names = {"OrchestratorRole", "OrchestrationDecision", "OrchestrationContext", "OrchestrationStrategy",
             "RuleBasedStrategy", "LLMBasedStrategy", "ProcessEvent", "ProcessMetrics", "ProcessModel",
             "ProcessMiningEngine", "PipelineOrchestrator", "GroupDecisionType", "GroupOrchestrationDecision",
             "PipelineStatus", "GroupOrchestrationStrategy", "LoadBalancingStrategy",
             "ContentBasedRoutingStrategy", "ParallelFanOutStrategy", "GroupOrchestrator"}
    assert names <= set(roles.__all__)
    code = (
        "import sys, llmteam.roles\n"
        "bad = [m for m in ('cryptography', 'asyncpg', 'redis', 'httpx') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- 7.1 ---------------------------------------------------------------------------------------------


def test_primitives() -> None:
    assert [(r.name, r.value) for r in OrchestratorRole] == [
        ("ORCHESTRATION", "orchestration"), ("PROCESS_MINING", "process_mining")]
    assert [f.name for f in dataclasses.fields(OrchestrationDecision)] == [
        "decision_type", "target_agents", "reason", "confidence", "metadata"]
    d = OrchestrationDecision("route", ["a"], "why", 0.9)
    assert d.metadata == {} and d.decision_type == "route"
    OrchestrationDecision("end", [], "x", 1.0).metadata["k"] = 1
    assert OrchestrationDecision("end", [], "x", 1.0).metadata == {}
    assert [f.name for f in dataclasses.fields(OrchestrationContext)] == [
        "current_step", "available_agents", "agent_states", "execution_history", "global_state",
        "step_duration", "retry_count", "error_rate"]
    c = ctx()
    assert c.step_duration == timedelta(0) and c.retry_count == 0 and c.error_rate == 0.0
    c.current_step = "x"
    c.retry_count = 2
    assert c.current_step == "x"


async def test_base_strategy_raises() -> None:
    with pytest.raises(NotImplementedError):
        await OrchestrationStrategy().decide(ctx())
    with pytest.raises(NotImplementedError):
        await GroupOrchestrationStrategy().decide({}, {})


async def test_rule_based_rules_in_order_sync_and_async() -> None:
    s = RuleBasedStrategy()
    assert s.rules == []
    calls: list[str] = []

    def none_rule(c: OrchestrationContext) -> None:
        calls.append("none")

    async def async_rule(c: OrchestrationContext) -> OrchestrationDecision | None:
        calls.append("async")
        return OrchestrationDecision("escalate", [], "async_rule", 0.4) if c.retry_count else None

    def sync_rule(c: OrchestrationContext) -> OrchestrationDecision:
        calls.append("sync")
        return OrchestrationDecision("skip", [], "sync_rule", 0.3)

    assert s.add_rule(none_rule).add_rule(async_rule).add_rule(sync_rule) is s
    assert len(s.rules) == 3
    d = await s.decide(ctx())
    assert d.reason == "sync_rule" and calls == ["none", "async", "sync"]
    calls.clear()
    d = await s.decide(ctx(retry_count=1))
    assert d.reason == "async_rule" and calls == ["none", "async"]


async def test_rule_based_default_sequence() -> None:
    s = RuleBasedStrategy()
    agents = ["a", "b", "c"]
    assert await s.decide(ctx("start", agents)) == OrchestrationDecision("route", ["a"], "default_sequence", 1.0)
    assert await s.decide(ctx("a", agents)) == OrchestrationDecision("route", ["b"], "default_sequence", 1.0)
    assert await s.decide(ctx("c", agents)) == OrchestrationDecision("end", [], "no_more_agents", 1.0)
    assert await s.decide(ctx("start", [])) == OrchestrationDecision("end", [], "no_more_agents", 1.0)
    assert (await s.decide(ctx("unknown", agents))).target_agents == ["a"]


class FakeLLM:
    def __init__(self, response: Any) -> None:
        self.response = response
        self.prompts: list[str] = []

    async def generate(self, prompt: str) -> Any:
        self.prompts.append(prompt)
        return self.response


async def test_llm_strategy_attributes_and_custom_template() -> None:
    llm = FakeLLM('{"decision": "end"}')
    s = LLMBasedStrategy(llm)
    assert s.llm is llm and isinstance(s.prompt_template, str) and s.prompt_template
    for key in ("decision", "targets", "reason", "confidence"):
        assert key in s.prompt_template
    s2 = LLMBasedStrategy(llm, "Custom prompt: {current_step}")
    assert s2.prompt_template == "Custom prompt: {current_step}"
    await s2.decide(ctx("my_step"))
    assert "Custom prompt: my_step" in llm.prompts[-1]


async def test_llm_prompt_placeholders_and_safe_formatting() -> None:
    llm = FakeLLM("{}")
    template = ("{current_step}|{agents}|{states}|{history}|{error_rate}|{global_state}|{retry_count}|"
                "{step_duration}|{unknown}|{\"json\": 1}|{0}|{current_step.__class__}")
    c = OrchestrationContext("stp", ["a1", "a2"], {"a1": {"status": "ok"}},
                             [{"n": i} for i in range(8)], {"g": 1}, timedelta(seconds=3), 2, 0.25)
    await LLMBasedStrategy(llm, template).decide(c)
    p = llm.prompts[-1]
    assert p.startswith("stp|")
    assert "a1" in p and "a2" in p and "'status'" in p and "0.25" in p and "'g'" in p
    assert "|2|" in p and str(timedelta(seconds=3)) in p
    assert "{'n': 3}" in p and "{'n': 7}" in p and "{'n': 2}" not in p  # the last 5 entries
    assert "{unknown}" in p and '{"json": 1}' in p
    assert "{0}" in p and "{current_step.__class__}" in p and "<class" not in p  # no attribute access
    # the default template renders without error too
    await LLMBasedStrategy(llm).decide(c)
    assert "stp" in llm.prompts[-1]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ('{"decision": "route", "targets": ["a"], "reason": "r", "confidence": 0.9}',
         ("route", ["a"], "r", 0.9)),
        ('Sure!\n```json\n{"decision": "end", "targets": [], "reason": "done", "confidence": 1}\n```',
         ("end", [], "done", 1.0)),
        ("{}", ("route", [], "llm_decision", 0.8)),
        ('{"decision": "retry", "targets": ["x"]} trailing {"decision": "end"}', ("retry", ["x"], "llm_decision", 0.8)),
        ('{"decision": "skip", "confidence": "high"}', ("skip", [], "llm_decision", 0.8)),
        ('{"decision": "parallel", "targets": ["a", "b"], "confidence": 7}', ("parallel", ["a", "b"], "llm_decision",
                                                                               1.0)),
        ('{"decision": "escalate", "confidence": -2}', ("escalate", [], "llm_decision", 0.0)),
        ("not json at all", ("route", [], "llm_parse_error", 0.5)),
        ("{broken json", ("route", [], "llm_parse_error", 0.5)),
        ('["route"]', ("route", [], "llm_parse_error", 0.5)),
        ("42", ("route", [], "llm_parse_error", 0.5)),
        ('{"decision": "dance"}', ("route", [], "llm_parse_error", 0.5)),
        ('{"decision": "route", "targets": "a"}', ("route", [], "llm_parse_error", 0.5)),
        ('{"decision": "route", "targets": [1, 2]}', ("route", [], "llm_parse_error", 0.5)),
        ("", ("route", [], "llm_parse_error", 0.5)),
    ],
)
async def test_llm_parsing(response: str, expected: tuple[str, list[str], str, float]) -> None:
    d = await LLMBasedStrategy(FakeLLM(response)).decide(ctx("s", ["a"]))
    assert isinstance(d, OrchestrationDecision)
    assert (d.decision_type, d.target_agents, d.reason) == expected[:3]
    assert d.confidence == pytest.approx(expected[3])


# --- 7.2 mining ----------------------------------------------------------------------------------------


def test_mining_dataclasses() -> None:
    assert [f.name for f in dataclasses.fields(ProcessEvent)] == [
        "event_id", "timestamp", "activity", "resource", "case_id", "lifecycle", "duration_ms", "cost",
        "attributes"]
    e = ProcessEvent("1", T0, "act", "res", "c1")
    assert (e.lifecycle, e.duration_ms, e.cost, e.attributes) == ("complete", 0, 0.0, {})
    e.attributes["x"] = 1
    assert ProcessEvent("2", T0, "a", "r", "c").attributes == {}
    assert [f.name for f in dataclasses.fields(ProcessMetrics)] == [
        "avg_duration", "min_duration", "max_duration", "cases_per_hour", "completion_rate", "error_rate",
        "retry_rate", "bottleneck_activities", "waiting_time_by_activity"]
    with pytest.raises(TypeError):
        ProcessMetrics()  # type: ignore[call-arg]
    assert [f.name for f in dataclasses.fields(ProcessModel)] == [
        "activities", "transitions", "frequencies", "fitness", "precision"]
    m = ProcessModel([], {}, {})
    assert m.fitness == 1.0 and m.precision == 1.0


def test_engine_counts_clear_and_bound() -> None:
    eng = ProcessMiningEngine()
    assert eng.get_event_count() == 0 and eng.get_case_count() == 0
    for i in range(5):
        eng.record_event(ev(f"c{i % 2}", "a", i))
    assert eng.get_event_count() == 5 and eng.get_case_count() == 2
    eng.clear()
    assert eng.get_event_count() == 0 and eng.get_case_count() == 0
    big = ProcessMiningEngine(max_events=None)
    for i in range(3000):
        big.record_event(ev("c", "a", i))
    assert big.get_event_count() == 3000  # keeps everything by default
    bounded = ProcessMiningEngine(max_events=3)
    bounded.record_event(ev("old", "a", 0))
    for i in range(3):
        bounded.record_event(ev("new", "a", i + 1))
    assert bounded.get_event_count() == 3 and bounded.get_case_count() == 1  # empty case dropped


def test_discover_model() -> None:
    eng = ProcessMiningEngine()
    # out of order on purpose: each case is sorted by timestamp
    eng.record_event(ev("c1", "B", 2))
    eng.record_event(ev("c1", "A", 1))
    eng.record_event(ev("c1", "C", 3))
    eng.record_event(ev("c2", "A", 1))
    eng.record_event(ev("c2", "C", 2))
    eng.record_event(ev("c2", "B", 3))
    eng.record_event(ev("c3", "A", 1))
    eng.record_event(ev("c3", "B", 2))
    m = eng.discover_model()
    assert isinstance(m, ProcessModel)
    assert sorted(m.activities) == ["A", "B", "C"]
    assert m.transitions["A"] == ["B", "C"]  # unique, first appearance order
    assert m.transitions["B"] == ["C"] and m.transitions["C"] == ["B"]
    assert m.frequencies == {"A->B": 2, "B->C": 1, "A->C": 1, "C->B": 1}
    empty = ProcessMiningEngine().discover_model()
    assert empty.activities == [] and empty.transitions == {} and empty.frequencies == {}


def test_stable_sort_for_equal_timestamps() -> None:
    eng = ProcessMiningEngine()
    eng.record_event(ev("c", "X", 0))
    eng.record_event(ev("c", "Y", 0))
    eng.record_event(ev("c", "Z", 0))
    assert eng.discover_model().frequencies == {"X->Y": 1, "Y->Z": 1}


def test_calculate_metrics() -> None:
    eng = ProcessMiningEngine()
    # case 1: 10 minutes, has complete
    eng.record_event(ev("c1", "fetch", 0, "start"))
    eng.record_event(ev("c1", "fetch", 4, "complete", duration_ms=400))
    eng.record_event(ev("c1", "handle_error", 6, "start"))
    eng.record_event(ev("c1", "handle_error", 10, "complete", duration_ms=100))
    # case 2: 30 minutes, no complete event
    eng.record_event(ev("c2", "Retry_call", 0, "start", duration_ms=900))
    eng.record_event(ev("c2", "analyse", 30, "start", duration_ms=50))
    # case 3: a single event -> no duration
    eng.record_event(ev("c3", "ERROR_report", 120, "complete", duration_ms=0))
    met = eng.calculate_metrics()
    assert isinstance(met, ProcessMetrics)
    assert met.min_duration == timedelta(minutes=10) and met.max_duration == timedelta(minutes=30)
    assert met.avg_duration == timedelta(minutes=20)
    assert met.completion_rate == pytest.approx(2 / 3)
    assert met.error_rate == pytest.approx(3 / 7)
    assert met.retry_rate == pytest.approx(1 / 7)
    assert met.cases_per_hour == pytest.approx(3 / 2)  # 3 cases over 2 h
    assert met.bottleneck_activities == ["Retry_call", "fetch", "handle_error"]  # analyse (50) is 4th
    wait = met.waiting_time_by_activity
    assert wait["handle_error"] == timedelta(minutes=2)
    # "end of the previous event": its timestamp, or timestamp + duration_ms (0.9 s here); both readings pass
    assert wait["analyse"] in (timedelta(minutes=30), timedelta(minutes=30) - timedelta(milliseconds=900))
    assert "ERROR_report" not in wait


def test_metrics_empty_and_short_span() -> None:
    met = ProcessMiningEngine().calculate_metrics()
    assert met.avg_duration == met.min_duration == met.max_duration == timedelta(0)
    assert met.completion_rate == 0.0 and met.error_rate == 0.0 and met.retry_rate == 0.0
    assert met.cases_per_hour == 0.0
    assert met.bottleneck_activities == [] and met.waiting_time_by_activity == {}
    eng = ProcessMiningEngine()
    eng.record_event(ev("a", "x", 0))
    eng.record_event(ev("b", "y", 1))
    m = eng.calculate_metrics()
    assert m.cases_per_hour == pytest.approx(2.0)  # span < 1 h counts as 1 h
    assert m.waiting_time_by_activity == {}  # no lifecycles -> {}
    assert m.bottleneck_activities == []  # no positive durations


def _canonical_xes() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<log>\n"
        "  <trace>\n"
        '    <string key="concept:name" value="case-1"/>\n'
        "    <event>\n"
        '      <string key="concept:name" value="first"/>\n'
        '      <string key="org:resource" value="res"/>\n'
        f'      <date key="time:timestamp" value="{T0.isoformat()}"/>\n'
        '      <string key="lifecycle:transition" value="start"/>\n'
        "    </event>\n"
        "    <event>\n"
        '      <string key="concept:name" value="second"/>\n'
        '      <string key="org:resource" value="res"/>\n'
        f'      <date key="time:timestamp" value="{(T0 + timedelta(minutes=1)).isoformat()}"/>\n'
        '      <string key="lifecycle:transition" value="complete"/>\n'
        '      <string key="custom_field" value="custom_value"/>\n'
        '      <string key="n" value="3"/>\n'
        "    </event>\n"
        "  </trace>\n"
        "</log>"
    )


def test_export_xes_exact_layout() -> None:
    eng = ProcessMiningEngine()
    eng.record_event(ev("case-1", "second", 1, "complete", custom_field="custom_value", n=3))
    eng.record_event(ev("case-1", "first", 0, "start"))
    out = eng.export_xes()
    assert out.rstrip("\n") == _canonical_xes()
    assert '<string key="custom_field" value="custom_value"/>' in out
    root = ET.fromstring(out.encode())
    assert root.tag == "log" and root.attrib == {}


def test_export_xes_empty() -> None:
    out = ProcessMiningEngine().export_xes()
    assert out.split() == ['<?xml', 'version="1.0"', 'encoding="UTF-8"?>', "<log>", "</log>"]
    assert out.splitlines() == ['<?xml version="1.0" encoding="UTF-8"?>', "<log>", "</log>"]


def test_export_xes_escapes_everything() -> None:
    eng = ProcessMiningEngine()
    nasty = 'a&b<c>"d'
    eng.record_event(ProcessEvent("1", T0, nasty, nasty, nasty, nasty, 0, 0.0, {nasty: nasty}))
    out = eng.export_xes()
    root = ET.fromstring(out.encode())  # well-formed
    assert "a&amp;b&lt;c&gt;&quot;d" in out
    trace = root.find("trace")
    assert trace is not None
    assert trace.find("string").get("value") == nasty  # type: ignore[union-attr]
    event = trace.find("event")
    assert event is not None
    values = [(e.get("key"), e.get("value")) for e in event]
    assert ("concept:name", nasty) in values and ("org:resource", nasty) in values
    assert ("lifecycle:transition", nasty) in values and (nasty, nasty) in values


# --- 7.3 PipelineOrchestrator ----------------------------------------------------------------------------


class StepAgent:
    def __init__(self, name: str, out: Any = None, error: Exception | None = None,
                 state: dict[str, Any] | None = None) -> None:
        self.name = name
        self.out = out
        self.error = error
        self.seen: list[dict[str, Any]] = []
        if state is not None:
            self.get_state = lambda: state

    async def process(self, state: dict[str, Any]) -> Any:
        self.seen.append(dict(state))
        if self.error is not None:
            raise self.error
        return self.out


def test_orchestrator_construction() -> None:
    o = PipelineOrchestrator("p1")
    assert o.pipeline_id == "p1" and isinstance(o.strategy, RuleBasedStrategy)
    assert isinstance(o.process_mining, ProcessMiningEngine) and o._agents == {}
    off = PipelineOrchestrator("p2", None, False)
    assert off.process_mining is None and off.get_process_metrics() is None and off.export_process_model() is None
    strat = RuleBasedStrategy()
    assert PipelineOrchestrator("p3", strat, max_steps=5, history_limit=2).strategy is strat
    a = StepAgent("a")
    o.register_agent("a", a)
    assert o._agents == {"a": a}
    o.unregister_agent("a")
    o.unregister_agent("a")
    assert o._agents == {}


async def test_default_strategy_runs_a_b_then_ends() -> None:
    o = PipelineOrchestrator("p")
    a = StepAgent("a", {"a_done": True})
    b = StepAgent("b", None)
    o.register_agent("a", a)
    o.register_agent("b", b)
    data = {"x": 1}
    out = await o.orchestrate("run-1", data)
    assert out == {"x": 1, "a_done": True}
    assert data == {"x": 1}  # shallow copy
    assert a.seen == [{"x": 1}] and b.seen == [{"x": 1, "a_done": True}]
    hist = o.get_execution_history()
    assert [h["step"] for h in hist] == ["a", "b", "b"]
    assert [h["decision"]["type"] for h in hist] == ["route", "route", "end"]
    assert hist[0]["decision"] == {"type": "route", "targets": ["a"], "reason": "default_sequence"}
    assert set(hist[0]) >= {"step", "decision", "timestamp"}
    datetime.fromisoformat(hist[0]["timestamp"])
    hist.clear()
    assert len(o.get_execution_history()) == 3


async def test_mining_one_case_per_run_and_events() -> None:
    o = PipelineOrchestrator("p")
    o.register_agent("a", StepAgent("a"))
    await o.orchestrate("r1", {})
    await o.orchestrate("r2", {})
    eng = o.process_mining
    assert eng is not None and eng.get_case_count() == 2
    # per run: decision:route, a start, a complete, decision:end
    assert eng.get_event_count() == 8
    xes = o.export_process_model()
    assert xes is not None and 'value="decision:route"' in xes and 'value="orchestrator"' in xes
    assert 'key="reason" value="default_sequence"' in xes
    assert isinstance(o.get_process_metrics(), ProcessMetrics)


async def test_context_given_to_strategy() -> None:
    seen: list[OrchestrationContext] = []

    def rule(c: OrchestrationContext) -> OrchestrationDecision | None:
        seen.append(c)
        return None

    o = PipelineOrchestrator("p", RuleBasedStrategy().add_rule(rule))
    o.register_agent("a", StepAgent("a", {"k": 1}, state={"status": "busy"}))
    o.register_agent("b", StepAgent("b"))
    await o.orchestrate("r", {"in": 0})
    first = seen[0]
    assert first.current_step == "start" and first.available_agents == ["a", "b"]
    assert first.agent_states == {"a": {"status": "busy"}, "b": {"status": "available"}}
    assert first.execution_history == []
    assert seen[1].current_step == "a" and len(seen[1].execution_history) == 1
    assert seen[1].global_state["k"] == 1
    assert seen[0].execution_history is not seen[1].execution_history


async def test_unknown_target_ends_with_input_intact() -> None:
    class Strat(OrchestrationStrategy):
        async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
            return OrchestrationDecision("route", ["ghost"], "x", 1.0)

    o = PipelineOrchestrator("p", Strat())
    o.register_agent("a", StepAgent("a", {"changed": 1}))
    assert await o.orchestrate("r", {"keep": 1}) == {"keep": 1}


@pytest.mark.parametrize("kind", ["end", "escalate", "skip", "parallel", "route", "retry"])
async def test_decisions_without_targets_or_other_types_end(kind: str) -> None:
    class Strat(OrchestrationStrategy):
        calls = 0

        async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
            Strat.calls += 1
            targets = [] if kind in ("end", "route", "retry") else ["a"]
            return OrchestrationDecision(kind, targets, "x", 1.0)

    o = PipelineOrchestrator("p", Strat())
    agent = StepAgent("a", {"ran": True})
    o.register_agent("a", agent)
    assert await o.orchestrate("r", {}) == {}
    assert Strat.calls == 1 and agent.seen == []


async def test_retry_sets_step_and_route_to_several() -> None:
    decisions = iter([
        OrchestrationDecision("retry", ["b"], "again", 0.5),
        OrchestrationDecision("route", ["a", "ghost", "b"], "both", 1.0),
        OrchestrationDecision("end", [], "done", 1.0),
    ])
    steps: list[str] = []

    class Strat(OrchestrationStrategy):
        async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
            steps.append(context.current_step)
            return next(decisions)

    o = PipelineOrchestrator("p", Strat())
    o.register_agent("a", StepAgent("a", {"a": 1}))
    o.register_agent("b", StepAgent("b", {"b": 2}))
    assert await o.orchestrate("r", {}) == {"a": 1, "b": 2}
    assert steps == ["start", "b", "b"]


async def test_max_steps() -> None:
    class Forever(OrchestrationStrategy):
        async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
            return OrchestrationDecision("retry", ["a"], "loop", 1.0)

    o = PipelineOrchestrator("p", Forever(), max_steps=7)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(o.orchestrate("r", {}), 5)
    assert len(o.get_execution_history()) == 7


async def test_steps_yield_to_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    class Forever(OrchestrationStrategy):
        async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
            return OrchestrationDecision("retry", ["a"], "loop", 1.0)

    t = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await PipelineOrchestrator("p", Forever(), max_steps=50).orchestrate("r", {})
    t.cancel()
    assert ticks >= 40


async def test_agent_exception_recorded_and_reraised() -> None:
    o = PipelineOrchestrator("p")
    o.register_agent("a", StepAgent("a", error=ValueError("bad thing")))
    with pytest.raises(ValueError, match="bad thing"):
        await o.orchestrate("r", {})
    eng = o.process_mining
    assert eng is not None
    xes = eng.export_xes()
    assert 'value="error"' in xes and 'key="error" value="bad thing"' in xes
    assert len(o.get_execution_history()) >= 1


async def test_history_limit_across_runs() -> None:
    o = PipelineOrchestrator("p", history_limit=4)
    o.register_agent("a", StepAgent("a"))
    for i in range(3):
        await o.orchestrate(f"r{i}", {})
    hist = o.get_execution_history()
    assert len(hist) == 4
    assert [h["decision"]["type"] for h in hist] == ["route", "end", "route", "end"]


async def test_history_limit_keeps_most_recent() -> None:
    o = PipelineOrchestrator("p", history_limit=3)
    o.register_agent("a", StepAgent("a"))
    await o.orchestrate("r0", {})
    await o.orchestrate("r1", {})
    hist = o.get_execution_history()
    # run r0: route, end; run r1: route, end -> the last 3, oldest first
    assert [h["decision"]["type"] for h in hist] == ["end", "route", "end"]


# --- 7.4 group -------------------------------------------------------------------------------------------


def test_group_models() -> None:
    assert [(t.name, t.value) for t in GroupDecisionType] == [
        ("ROUTE_TO_PIPELINE", "route_to_pipeline"), ("PARALLEL_PIPELINES", "parallel_pipelines"),
        ("AGGREGATE_RESULTS", "aggregate_results"), ("ESCALATE", "escalate")]
    d = GroupOrchestrationDecision(GroupDecisionType.ESCALATE, [])
    assert d.aggregation_strategy == "merge" and d.reason == "" and d.metadata == {}
    assert [f.name for f in dataclasses.fields(PipelineStatus)] == [
        "pipeline_id", "status", "progress", "current_step", "error_count", "last_update"]
    s = PipelineStatus("p", "idle", 0.0, "", 0, T0)
    s.status = "running"
    assert s.status == "running"


def _st(pid: str, status: str, progress: float, minutes: int) -> PipelineStatus:
    return PipelineStatus(pid, status, progress, "", 0, T0 + timedelta(minutes=minutes))


async def test_load_balancing() -> None:
    s = LoadBalancingStrategy()
    pipes = {"a": _st("a", "running", 0.1, 0), "b": _st("b", "idle", 0.0, 5), "c": _st("c", "idle", 0.0, 2)}
    d = await s.decide(pipes, {})
    assert (d.decision_type, d.target_pipelines, d.reason) == (
        GroupDecisionType.ROUTE_TO_PIPELINE, ["c"], "load_balancing:idle")
    busy = {"a": _st("a", "running", 0.5, 0), "b": _st("b", "running", 0.2, 9), "c": _st("c", "failed", 0.2, 3)}
    d = await s.decide(busy, {})
    assert (d.target_pipelines, d.reason) == (["c"], "load_balancing:least_progress")
    d = await s.decide({}, {})
    assert (d.decision_type, d.target_pipelines, d.reason) == (GroupDecisionType.ESCALATE, [],
                                                              "no_pipelines_available")


async def test_content_based_routing() -> None:
    s = ContentBasedRoutingStrategy({"Billing": ["bill", "missing"], "tech": ["tech"]})
    assert s.routing_rules == {"Billing": ["bill", "missing"], "tech": ["tech"]}
    pipes = {"gen": _st("gen", "idle", 0, 0), "bill": _st("bill", "idle", 0, 0), "tech": _st("tech", "idle", 0, 0)}
    d = await s.decide(pipes, {"q": "my BILLING question, tech too"})
    assert (d.decision_type, d.target_pipelines, d.reason) == (
        GroupDecisionType.ROUTE_TO_PIPELINE, ["bill"], "keyword_match:Billing")
    d = await s.decide({"gen": pipes["gen"], "tech": pipes["tech"]}, {"q": "billing"})
    assert (d.target_pipelines, d.reason) == (["gen"], "default_routing")
    d = await s.decide(pipes, {"q": "hello"})
    assert (d.target_pipelines, d.reason) == (["gen"], "default_routing")
    d = await s.decide({}, {"q": "billing"})
    assert (d.decision_type, d.reason) == (GroupDecisionType.ESCALATE, "no_pipelines_available")


async def test_fan_out() -> None:
    pipes = {"a": _st("a", "idle", 0, 0), "b": _st("b", "running", 0, 0)}
    d = await ParallelFanOutStrategy().decide(pipes, {})
    assert (d.decision_type, d.target_pipelines, d.aggregation_strategy, d.reason) == (
        GroupDecisionType.PARALLEL_PIPELINES, ["a", "b"], "merge", "fan_out")
    assert (await ParallelFanOutStrategy("vote").decide(pipes, {})).aggregation_strategy == "vote"


class FakePipeline:
    def __init__(self, pid: str | None, result: Any = None, error: Exception | None = None,
                 metrics: ProcessMetrics | None = None) -> None:
        if pid is not None:
            self.pipeline_id = pid
        self.result = result if result is not None else {}
        self.error = error
        self.metrics = metrics
        self.runs: list[tuple[str, dict[str, Any]]] = []
        self.status_seen: str | None = None

    async def orchestrate(self, run_id: str, input_data: dict[str, Any]) -> Any:
        self.runs.append((run_id, input_data))
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return self.result

    def get_process_metrics(self) -> ProcessMetrics | None:
        return self.metrics


def test_group_orchestrator_registration() -> None:
    g = GroupOrchestrator("g")
    assert g.group_id == "g" and isinstance(g.strategy, LoadBalancingStrategy)
    strat = ParallelFanOutStrategy()
    assert GroupOrchestrator("g2", strat).strategy is strat
    p = FakePipeline("p1")
    anon = FakePipeline(None)
    before = datetime.now()
    g.register_pipeline(p)
    g.register_pipeline(anon)
    assert g._pipelines["p1"] is p and g._pipelines[str(id(anon))] is anon
    st = g._statuses["p1"]
    assert (st.pipeline_id, st.status, st.progress, st.current_step, st.error_count) == ("p1", "idle", 0.0, "", 0)
    assert st.last_update >= before
    statuses = g.get_pipeline_statuses()
    assert statuses["p1"].status == "idle"
    statuses.pop("p1")
    assert "p1" in g.get_pipeline_statuses()
    g.unregister_pipeline("p1")
    g.unregister_pipeline("p1")
    assert "p1" not in g._pipelines and "p1" not in g._statuses


async def test_group_route_success_failure_and_none() -> None:
    g = GroupOrchestrator("g")
    assert await g.orchestrate("r", {}) == {}  # escalate -> {}
    ok = FakePipeline("ok", {"answer": 1})
    g.register_pipeline(ok)
    assert await g.orchestrate("r1", {"q": 1}) == {"answer": 1}
    assert ok.runs == [("r1", {"q": 1})]
    assert g.get_pipeline_statuses()["ok"].status == "idle"

    g2 = GroupOrchestrator("g2")
    bad = FakePipeline("bad", error=RuntimeError("exploded"))
    g2.register_pipeline(bad)
    assert await g2.orchestrate("r", {}) == {"error": "exploded"}
    st = g2.get_pipeline_statuses()["bad"]
    assert st.status == "failed" and st.error_count == 1

    class Ghost(GroupOrchestrationStrategy):
        async def decide(self, pipelines: dict[str, PipelineStatus],
                         input_data: dict[str, Any]) -> GroupOrchestrationDecision:
            return GroupOrchestrationDecision(GroupDecisionType.ROUTE_TO_PIPELINE, ["nope"])

    g3 = GroupOrchestrator("g3", Ghost())
    assert await g3.orchestrate("r", {}) == {"error": "no_pipeline_available"}


async def test_group_status_running_during_run() -> None:
    g = GroupOrchestrator("g")
    seen: list[str] = []

    class Watch(FakePipeline):
        async def orchestrate(self, run_id: str, input_data: dict[str, Any]) -> Any:
            seen.append(g.get_pipeline_statuses()["w"].status)
            return {}

    g.register_pipeline(Watch("w"))
    await g.orchestrate("r", {})
    assert seen == ["running"]


async def test_group_parallel() -> None:
    g = GroupOrchestrator("g", ParallelFanOutStrategy("merge"))
    a = FakePipeline("a", {"x": 1, "shared": "a"})
    b = FakePipeline("b", {"y": 2, "shared": "b"})
    c = FakePipeline("c", error=ValueError("c failed"))
    for p in (a, b, c):
        g.register_pipeline(p)
    out = await g.orchestrate("run", {"in": 1})
    assert out == {"x": 1, "y": 2, "shared": "b", "errors": {"c": "c failed"}}
    assert a.runs == [("run_a", {"in": 1})] and b.runs[0][0] == "run_b" and c.runs[0][0] == "run_c"
    st = g.get_pipeline_statuses()
    assert st["a"].status == "idle" and st["b"].status == "idle" and st["c"].status == "failed"
    g2 = GroupOrchestrator("g2", ParallelFanOutStrategy("all"))
    g2.register_pipeline(FakePipeline("a", {"x": 1}))
    assert await g2.orchestrate("r", {}) == {"results": [{"x": 1}]}


def test_aggregate_results() -> None:
    g = GroupOrchestrator("g")
    err = RuntimeError("x")
    res = [{"a": 1}, err, {"b": 2, "a": 3}]
    assert g._aggregate_results(res, "merge") == {"a": 3, "b": 2}
    assert g._aggregate_results(res, "first") == {"a": 1}
    assert g._aggregate_results([err, {"z": 1}], "first") == {"z": 1}
    assert g._aggregate_results([err], "first") == {}
    assert g._aggregate_results(res, "all") == {"results": [{"a": 1}, {"b": 2, "a": 3}]}
    assert g._aggregate_results([{"v": 1}, {"v": 2}, {"v": 2}, err], "vote") == {"v": 2}
    assert g._aggregate_results([{"v": 1}, {"v": 2}], "vote") == {"v": 1}  # tie -> earliest
    assert g._aggregate_results([err], "vote") == {}
    assert g._aggregate_results(res, "bogus") == {}
    assert g._aggregate_results([], "merge") == {}


def _metrics(completion: float, error: float, bottlenecks: list[str]) -> ProcessMetrics:
    z = timedelta(0)
    return ProcessMetrics(z, z, z, 0.0, completion, error, 0.0, bottlenecks, {})


def test_group_metrics() -> None:
    g = GroupOrchestrator("g")
    assert g.get_group_metrics() == {"total_pipelines": 0}
    g.register_pipeline(FakePipeline("none"))
    assert g.get_group_metrics() == {"total_pipelines": 1}
    g.register_pipeline(FakePipeline("m1", metrics=_metrics(1.0, 0.2, ["a", "b"])))
    g.register_pipeline(FakePipeline("m2", metrics=_metrics(0.5, 0.4, ["b", "c"])))
    m = g.get_group_metrics()
    assert m["total_pipelines"] == 3
    assert m["avg_completion_rate"] == pytest.approx(0.75) and m["avg_error_rate"] == pytest.approx(0.3)
    assert sorted(m["bottlenecks"]) == ["a", "b", "c"] and len(m["bottlenecks"]) == 3


async def test_group_with_real_pipeline_orchestrators() -> None:
    g = GroupOrchestrator("g", ParallelFanOutStrategy())
    for pid in ("p1", "p2"):
        po = PipelineOrchestrator(pid)
        po.register_agent("a", StepAgent("a", {pid: True}))
        g.register_pipeline(po)
    assert await g.orchestrate("r", {"q": 1}) == {"q": 1, "p1": True, "p2": True}
    m = g.get_group_metrics()
    assert m["total_pipelines"] == 2 and "avg_completion_rate" in m


async def test_instances_share_no_state() -> None:
    e1, e2 = ProcessMiningEngine(), ProcessMiningEngine()
    e1.record_event(ev("c", "a", 0))
    assert e2.get_event_count() == 0
    s1, s2 = RuleBasedStrategy(), RuleBasedStrategy()
    s1.add_rule(lambda c: None)
    assert s2.rules == []
    o1, o2 = PipelineOrchestrator("p"), PipelineOrchestrator("p")
    o1.register_agent("a", StepAgent("a"))
    await o1.orchestrate("r", {})
    assert o2._agents == {} and o2.get_execution_history() == []
    assert o2.process_mining is not None and o2.process_mining.get_event_count() == 0
    g1, g2 = GroupOrchestrator("g"), GroupOrchestrator("g")
    g1.register_pipeline(FakePipeline("x"))
    assert g2._pipelines == {} and g2._statuses == {}
