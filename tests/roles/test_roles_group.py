import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest

from llmteam.roles import (
    ContentBasedRoutingStrategy,
    GroupDecisionType,
    GroupOrchestrationDecision,
    GroupOrchestrationStrategy,
    GroupOrchestrator,
    LoadBalancingStrategy,
    ParallelFanOutStrategy,
    PipelineOrchestrator,
    PipelineStatus,
)


class Pipe:
    def __init__(self, pid: str, result: dict | None = None, error: Exception | None = None) -> None:
        self.pipeline_id = pid
        self.result = result if result is not None else {"by": pid}
        self.error = error
        self.runs: list[str] = []

    async def orchestrate(self, run_id: str, data: dict) -> dict:
        self.runs.append(run_id)
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return dict(self.result)


def status(pid: str, st: str = "idle", progress: float = 0.0, age: int = 0) -> PipelineStatus:
    return PipelineStatus(pid, st, progress, "", 0, datetime(2024, 1, 1) + timedelta(seconds=age))


async def test_strategies() -> None:
    with pytest.raises(NotImplementedError):
        await GroupOrchestrationStrategy().decide({}, {})
    lb = LoadBalancingStrategy()
    d = await lb.decide({"a": status("a", age=5), "b": status("b", age=1), "c": status("c", "running")}, {})
    assert (d.decision_type, d.target_pipelines, d.reason) == (
        GroupDecisionType.ROUTE_TO_PIPELINE, ["b"], "load_balancing:idle")
    d = await lb.decide({"a": status("a", "running", 0.5), "b": status("b", "running", 0.2)}, {})
    assert d.target_pipelines == ["b"] and d.reason == "load_balancing:least_progress"
    d = await lb.decide({}, {})
    assert (d.decision_type, d.target_pipelines, d.reason) == (GroupDecisionType.ESCALATE, [], "no_pipelines_available")
    cb = ContentBasedRoutingStrategy({"Invoice": ["billing", "ghost"], "bug": ["tech"]})
    assert cb.routing_rules["bug"] == ["tech"]
    pipes = {"tech": status("tech"), "billing": status("billing")}
    d = await cb.decide(pipes, {"q": "my INVOICE"})
    assert d.target_pipelines == ["billing"] and d.reason == "keyword_match:Invoice"
    d = await cb.decide(pipes, {"q": "hello"})
    assert d.target_pipelines == ["tech"] and d.reason == "default_routing"
    assert (await cb.decide({}, {"q": "bug"})).reason == "no_pipelines_available"
    d = await ParallelFanOutStrategy("vote").decide(pipes, {})
    assert (d.decision_type, d.target_pipelines, d.aggregation_strategy, d.reason) == (
        GroupDecisionType.PARALLEL_PIPELINES, ["tech", "billing"], "vote", "fan_out")
    assert GroupOrchestrationDecision(GroupDecisionType.ESCALATE, []).aggregation_strategy == "merge"


async def test_register_route_and_fair_balancing() -> None:
    g = GroupOrchestrator("g")
    assert isinstance(g.strategy, LoadBalancingStrategy)
    pipes = [Pipe(f"p{i}") for i in range(3)]
    for p in pipes:
        g.register_pipeline(p)
    assert g.get_pipeline_statuses()["p0"].status == "idle"
    used = Counter()
    for i in range(30):
        result = await g.orchestrate(f"r{i}", {})
        used[result["by"]] += 1
    assert used == {"p0": 10, "p1": 10, "p2": 10}
    assert all(s.status == "idle" for s in g.get_pipeline_statuses().values())
    g.unregister_pipeline("p0")
    g.unregister_pipeline("absent")
    assert set(g._pipelines) == set(g._statuses) == {"p1", "p2"}
    anon = object.__new__(Pipe)
    anon.pipeline_id = None  # type: ignore[assignment]
    g.register_pipeline(anon)
    assert str(id(anon)) in g._pipelines


async def test_concurrent_runs_spread_over_idle_pipelines() -> None:
    g = GroupOrchestrator("g")
    pipes = [Pipe(f"p{i}") for i in range(4)]
    for p in pipes:
        g.register_pipeline(p)
    await asyncio.gather(*(g.orchestrate(f"r{i}", {}) for i in range(4)))
    assert all(len(p.runs) == 1 for p in pipes)


async def test_route_failure_and_missing_pipeline() -> None:
    g = GroupOrchestrator("g")
    g.register_pipeline(Pipe("bad", error=RuntimeError("boom")))
    assert await g.orchestrate("r", {}) == {"error": "boom"}
    st = g.get_pipeline_statuses()["bad"]
    assert st.status == "failed" and st.error_count == 1
    assert g.get_last_errors() == {"bad": "RuntimeError: boom"}
    g2 = GroupOrchestrator("g2", ContentBasedRoutingStrategy({}))
    assert await g2.orchestrate("r", {}) == {}

    class Ghost(GroupOrchestrationStrategy):
        async def decide(self, pipelines, input_data):  # type: ignore[no-untyped-def]
            return GroupOrchestrationDecision(GroupDecisionType.ROUTE_TO_PIPELINE, ["ghost"])

    assert await GroupOrchestrator("g3", Ghost()).orchestrate("r", {}) == {"error": "no_pipeline_available"}


async def test_cancellation_returns_status_to_idle() -> None:
    class Slow(Pipe):
        async def orchestrate(self, run_id: str, data: dict) -> dict:
            await asyncio.sleep(10)
            return {}

    g = GroupOrchestrator("g")
    g.register_pipeline(Slow("s"))
    task = asyncio.create_task(g.orchestrate("r", {}))
    await asyncio.sleep(0.01)
    assert g.get_pipeline_statuses()["s"].status == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert g.get_pipeline_statuses()["s"].status == "idle"


async def test_parallel_with_errors_and_aggregation() -> None:
    g = GroupOrchestrator("g", ParallelFanOutStrategy("merge"))
    ok, bad = Pipe("ok", {"x": 1}), Pipe("bad", error=ValueError("nope"))
    g.register_pipeline(ok)
    g.register_pipeline(bad)
    out = await g.orchestrate("run", {})
    assert out == {"x": 1, "errors": {"bad": "nope"}}
    assert ok.runs == ["run_ok"] and bad.runs == ["run_bad"]
    sts = g.get_pipeline_statuses()
    assert sts["ok"].status == "idle" and sts["bad"].status == "failed"


def test_aggregate_results() -> None:
    g = GroupOrchestrator("g")
    res = [{"a": 1}, ValueError("x"), {"b": 2}, {"a": 1}]
    assert g._aggregate_results(res, "merge") == {"a": 1, "b": 2}
    assert g._aggregate_results(res, "first") == {"a": 1}
    assert g._aggregate_results([ValueError()], "first") == {}
    assert g._aggregate_results(res, "all") == {"results": [{"a": 1}, {"b": 2}, {"a": 1}]}
    assert g._aggregate_results(res, "vote") == {"a": 1}
    assert g._aggregate_results([{"x": 1}, {"y": 2}], "vote") == {"x": 1}
    assert g._aggregate_results([], "vote") == {}
    assert g._aggregate_results(res, "weird") == {}


async def test_group_metrics() -> None:
    g = GroupOrchestrator("g")
    assert g.get_group_metrics() == {"total_pipelines": 0}
    g.register_pipeline(Pipe("plain"))
    assert g.get_group_metrics() == {"total_pipelines": 1}
    p = PipelineOrchestrator("mined")

    class A:
        async def process(self, s: dict) -> None:
            return None

    p.register_agent("a", A())
    await p.orchestrate("r", {})
    g.register_pipeline(p)
    m = g.get_group_metrics()
    assert m["total_pipelines"] == 2 and m["avg_completion_rate"] == 1.0 and m["avg_error_rate"] == 0.0
    assert m["bottlenecks"] == []
