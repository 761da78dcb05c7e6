import asyncio
import gc
import uuid
from datetime import datetime, timedelta, timezone

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.roles import (
    OrchestrationDecision,
    OrchestrationStrategy,
    PipelineOrchestrator,
    ProcessMiningEngine,
    RuleBasedStrategy,
)
from llmteam.roles._mining import event_of
from llmteam.roles._pipeline import iso_time

from .._support.mined import mined


class Agent:
    def __init__(self, out: dict | None = None, state: dict | None = None) -> None:
        self.out = out
        self.seen: list[dict] = []
        if state is not None:
            self.get_state = lambda: state

    async def process(self, state: dict) -> dict | None:
        self.seen.append(dict(state))
        return self.out


class Boom:
    async def process(self, state: dict) -> None:
        raise ValueError("kaput")


class Forever(OrchestrationStrategy):
    async def decide(self, context):  # type: ignore[no-untyped-def]
        return OrchestrationDecision("retry", ["a"], "again", 1.0)


def test_defaults_and_registration() -> None:
    o = PipelineOrchestrator("p")
    assert isinstance(o.strategy, RuleBasedStrategy) and isinstance(o.process_mining, ProcessMiningEngine)
    assert PipelineOrchestrator("p", enable_process_mining=False).process_mining is None
    a = Agent()
    o.register_agent("a", a)
    assert o._agents == {"a": a}
    o.unregister_agent("a")
    o.unregister_agent("missing")
    assert o._agents == {}
    for bad in ({"max_steps": 0}, {"history_limit": -1}, {"max_steps": True}):
        with pytest.raises(ValueError):
            PipelineOrchestrator("p", **bad)
    with pytest.raises(ValueError):
        o.register_agent("", a)


async def test_default_sequence_runs_each_agent_once_and_merges_state() -> None:
    o = PipelineOrchestrator("p")
    a, b = Agent({"a": 1}), Agent({"b": 2})
    o.register_agent("a", a)
    o.register_agent("b", b)
    state = await o.orchestrate("run1", {"q": "x"})
    assert state == {"q": "x", "a": 1, "b": 2}
    assert b.seen == [{"q": "x", "a": 1}]
    hist = o.get_execution_history()
    assert [h["decision"]["type"] for h in hist] == ["route", "route", "end"]
    assert [h["step"] for h in hist] == ["a", "b", "b"]
    assert set(hist[0]) == {"step", "decision", "timestamp"}
    assert set(hist[0]["decision"]) == {"type", "targets", "reason"}
    assert o.process_mining is not None and o.process_mining.get_case_count() == 1
    events = o.process_mining.get_events("run1")
    assert [(e.activity, e.lifecycle) for e in events] == [
        ("decision:route", "complete"), ("a", "start"), ("a", "complete"),
        ("decision:route", "complete"), ("b", "start"), ("b", "complete"), ("decision:end", "complete"),
    ]
    assert events[0].attributes == {"reason": "default_sequence", "confidence": 1.0}
    assert o.get_process_metrics() is not None and "<log>" in (o.export_process_model() or "")


async def test_context_contents() -> None:
    seen = []

    def rule(ctx):  # type: ignore[no-untyped-def]
        seen.append(ctx)
        return None

    o = PipelineOrchestrator("p", RuleBasedStrategy().add_rule(rule), enable_process_mining=False)
    o.register_agent("a", Agent(state={"status": "busy"}))
    o.register_agent("b", Agent())
    await o.orchestrate("r", {"k": 1})
    assert seen[0].current_step == "start" and seen[0].available_agents == ["a", "b"]
    assert seen[0].agent_states == {"a": {"status": "busy"}, "b": {"status": "available"}}
    assert seen[0].execution_history == [] and len(seen[2].execution_history) == 2
    assert seen[-1].global_state == {"k": 1}
    assert o.get_process_metrics() is None and o.export_process_model() is None


async def test_unknown_target_ends_run_with_input_intact() -> None:
    rule = RuleBasedStrategy().add_rule(lambda c: OrchestrationDecision("route", ["ghost"], "x", 1.0))
    o = PipelineOrchestrator("p", rule)
    o.register_agent("a", Agent({"a": 1}))
    assert await o.orchestrate("r", {"in": 1}) == {"in": 1}
    assert len(o.get_execution_history()) == 1


async def test_other_decisions_end() -> None:
    for kind in ("end", "escalate", "skip", "parallel"):
        rule = RuleBasedStrategy().add_rule(lambda c, k=kind: OrchestrationDecision(k, ["a"], "x", 1.0))
        o = PipelineOrchestrator("p", rule)
        a = Agent()
        o.register_agent("a", a)
        await o.orchestrate("r", {})
        assert a.seen == [] and len(o.get_execution_history()) == 1


async def test_max_steps_stops_a_strategy_that_never_ends() -> None:
    o = PipelineOrchestrator("p", Forever(), max_steps=7)
    o.register_agent("a", Agent())
    with pytest.raises(RuntimeError, match=r"max_steps=7"):
        await o.orchestrate("r", {})
    assert len(o.get_execution_history()) == 7


async def test_agent_error_is_recorded_and_reraised() -> None:
    o = PipelineOrchestrator("p")
    o.register_agent("a", Boom())
    with pytest.raises(ValueError, match="kaput"):
        await o.orchestrate("r", {})
    assert o.process_mining is not None
    err = [e for e in o.process_mining.get_events() if e.lifecycle == "error"]
    assert len(err) == 1 and err[0].attributes == {"error": "kaput"} and err[0].activity == "a"
    assert o.get_execution_history()[-1]["error"] == "kaput"


async def test_history_is_bounded_and_a_copy() -> None:
    o = PipelineOrchestrator("p", history_limit=3)
    o.register_agent("a", Agent())
    for i in range(5):
        await o.orchestrate(f"r{i}", {})
    hist = o.get_execution_history()
    assert len(hist) == 3
    hist.clear()
    assert len(o.get_execution_history()) == 3


async def test_steps_yield_to_the_loop() -> None:
    """A timeout fires even though no agent ever awaits anything."""

    class Busy:
        async def process(self, state: dict) -> None:
            return None

    o = PipelineOrchestrator("p", Forever(), enable_process_mining=False, max_steps=10**9, history_limit=0)
    o.register_agent("a", Busy())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(o.orchestrate("r", {}), timeout=0.2)


async def test_memory_stays_flat_over_many_runs() -> None:
    class Lean:
        def __init__(self, out: dict) -> None:
            self.out = out

        async def process(self, state: dict) -> dict:
            return self.out

    o = PipelineOrchestrator("p", history_limit=100, mining_max_events=1000)
    for name in ("a", "b", "c"):
        o.register_agent(name, Lean({name: 1}))
    proc = psutil.Process()
    for i in range(10_000):  # warm-up: allocator arenas, caches
        await o.orchestrate(uuid.uuid4().hex, {"i": i})
    gc.collect()
    before = proc.memory_info().rss
    for i in range(20_000):
        await o.orchestrate(uuid.uuid4().hex, {"i": i})
    gc.collect()
    growth = proc.memory_info().rss - before
    assert o.process_mining is not None and o.process_mining.get_event_count() == 1000
    assert len(o.get_execution_history()) == 100
    assert growth < 4 * 1024 * 1024, f"RSS grew {growth / 1e6:.1f} MB over 20k runs"


class SpyEngine(ProcessMiningEngine):
    """The orchestrator's engine, also keeping (as ProcessEvents) every event in the order it was handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list = []

    def _record(self, events):  # type: ignore[no-untyped-def]
        events = list(events)
        self.handed.extend(events)
        return super()._record(events)

    def _record_fields(self, batch):  # type: ignore[no-untyped-def]
        batch = [(e[0] or self._new_id(), *e[1:]) for e in batch]  # ids drawn here, once
        self.handed.extend(event_of(e, self._new_id) for e in batch)
        return super()._record_fields(batch)


class Sleepy:
    """Suspends a varying number of times (so concurrent runs interleave), fails on request."""

    def __init__(self, name: str, pauses: int, fail_on: str | None = None) -> None:
        self.name, self.pauses, self.fail_on = name, pauses, fail_on

    async def process(self, state: dict) -> dict:
        for _ in range(self.pauses + len(state) % 3):
            await asyncio.sleep(0)
        if state.get("run") == self.fail_on:
            raise RuntimeError(f"{self.name} failed")
        return {self.name: state.get(self.name, 0) + 1}


def many_targets(ctx):  # type: ignore[no-untyped-def]
    """Two targets (one unknown) at the first step, a retry at the third, then the default sequence."""
    if ctx.current_step == "start":
        return OrchestrationDecision("route", ["a", "ghost", "b"], "fan", 0.5)
    if len(ctx.execution_history) == 2:
        return OrchestrationDecision("retry", ["c"], "again", 0.7)
    return None


async def test_concurrent_runs_mine_what_recording_each_event_alone_mines() -> None:
    """The orchestrator hands events over in batches of field tuples, built into ProcessEvents only when the log is
    read; fed the same events one at a time in the same order, an engine mines the same.

    Runs interleave (agents suspend), one fails, one route names an unknown agent and one decision retries.
    """
    o = PipelineOrchestrator("p", RuleBasedStrategy().add_rule(many_targets))
    spy = o.process_mining = SpyEngine()
    for i, name in enumerate(("a", "b", "c")):
        o.register_agent(name, Sleepy(name, i, fail_on="r3" if name == "b" else None))
    results = await asyncio.gather(*(o.orchestrate(f"r{i}", {"run": f"r{i}"}) for i in range(6)),
                                   return_exceptions=True)
    assert [isinstance(r, RuntimeError) for r in results] == [False, False, False, True, False, False]
    got = mined(spy)  # reading the engine hands it the events still pending
    reference = ProcessMiningEngine()
    for event in spy.handed:
        reference.record_event(event)
    assert got == mined(reference)
    assert spy.get_case_count() == 6 and spy.get_event_count() == len(spy.handed)
    first = [(e.activity, e.lifecycle) for e in spy.get_events("r0")]
    assert first[:9] == [("decision:route", "complete"), ("a", "start"), ("a", "complete"), ("b", "start"),
                         ("b", "complete"), ("decision:route", "complete"), ("c", "start"), ("c", "complete"),
                         ("decision:retry", "complete")]
    assert [(e.activity, e.lifecycle) for e in spy.get_events("r3")][-1] == ("b", "error")


async def test_events_reach_the_engine_before_every_await() -> None:
    """While an agent runs, its decision and start are in the engine; when the strategy decides, the previous
    agent's completion is: whoever looks at the engine sees what recording each event at once would show."""
    o = PipelineOrchestrator("p", RuleBasedStrategy().add_rule(lambda ctx: seen_by_strategy.append(
        [(e.activity, e.lifecycle) for e in o.process_mining.get_events("r")])))  # type: ignore[union-attr]
    seen_by_strategy: list = []
    seen_by_agent: list = []

    class Looker:
        async def process(self, state: dict) -> None:
            seen_by_agent.append([(e.activity, e.lifecycle) for e in o.process_mining.get_events("r")])  # type: ignore[union-attr]

    o.register_agent("a", Looker())
    o.register_agent("b", Looker())
    await o.orchestrate("r", {})
    assert seen_by_agent == [
        [("decision:route", "complete"), ("a", "start")],
        [("decision:route", "complete"), ("a", "start"), ("a", "complete"), ("decision:route", "complete"),
         ("b", "start")],
    ]
    assert seen_by_strategy[1] == seen_by_agent[0] + [("a", "complete")]
    assert len(seen_by_strategy) == 3 and seen_by_strategy[0] == []


async def test_an_agent_starts_at_the_time_of_the_step_event_before_it() -> None:
    """The start event takes the decision's time (or the previous agent's completion time): nothing else happens
    in between, so the log keeps one clock reading per moment and stays in time order."""
    o = PipelineOrchestrator("p", RuleBasedStrategy().add_rule(
        lambda ctx: OrchestrationDecision("route", ["a", "b"], "both", 1.0) if ctx.current_step == "start" else None))
    o.register_agent("a", Agent())
    o.register_agent("b", Agent())
    await o.orchestrate("r", {})
    assert o.process_mining is not None
    ev = o.process_mining.get_events("r")
    assert [(e.activity, e.lifecycle) for e in ev[:5]] == [
        ("decision:route", "complete"), ("a", "start"), ("a", "complete"), ("b", "start"), ("b", "complete")]
    assert ev[1].timestamp == ev[0].timestamp and ev[3].timestamp == ev[2].timestamp
    assert all(x.timestamp <= y.timestamp for x, y in zip(ev, ev[1:]))
    assert len({e.event_id for e in ev}) == len(ev)


async def test_an_engine_subclass_that_overrides_recording_sees_every_event() -> None:
    """A subclass overriding ``record_event`` (e.g. to forward events) gets each event as a ProcessEvent, in order,
    as it did when the orchestrator recorded one event at a time."""

    class Forwarding(ProcessMiningEngine):
        def __init__(self) -> None:
            super().__init__()
            self.forwarded: list = []

        def record_event(self, event):  # type: ignore[no-untyped-def]
            self.forwarded.append((event.activity, event.lifecycle, event.attributes))
            super().record_event(event)

    o = PipelineOrchestrator("p")
    engine = o.process_mining = Forwarding()
    o.register_agent("a", Agent())
    await o.orchestrate("r", {})
    assert engine.forwarded == [
        ("decision:route", "complete", {"reason": "default_sequence", "confidence": 1.0}), ("a", "start", {}),
        ("a", "complete", {}), ("decision:end", "complete", {"reason": "no_more_agents", "confidence": 1.0}),
    ]
    assert [(e.activity, e.lifecycle) for e in engine.get_events("r")] == [x[:2] for x in engine.forwarded]


async def test_an_unhashable_run_id_is_refused_before_the_run_when_mining() -> None:
    """With mining the run id keys the run's case: one that cannot be a key is refused up front, naming it, not
    later inside whichever read of the engine would first meet the event."""
    a = Agent()
    o = PipelineOrchestrator("p")
    o.register_agent("a", a)
    with pytest.raises(TypeError, match=r"run_id \['r'\] is not hashable"):
        await o.orchestrate(["r"], {})  # type: ignore[arg-type]
    assert a.seen == [] and o.get_execution_history() == []
    off = PipelineOrchestrator("p", enable_process_mining=False)
    off.register_agent("a", a)
    assert await off.orchestrate(["r"], {}) == {}  # type: ignore[arg-type]


async def test_pending_events_stay_bounded_between_reads() -> None:
    """Nobody reads the engine during many runs: its pending list never holds more than PENDING_MAX (+ the events of
    one step), and a bounded engine still ends with exactly its bound."""
    from llmteam.roles._mining import PENDING_MAX

    o = PipelineOrchestrator("p", mining_max_events=50)
    o.register_agent("a", Agent())
    assert o.process_mining is not None
    pending, _ = o.process_mining._pending_log()
    high = 0
    for i in range(PENDING_MAX):
        await o.orchestrate(f"r{i}", {})
        high = max(high, len(pending))
    assert 0 < high <= PENDING_MAX + 2
    assert o.process_mining.get_event_count() == 50 and not pending


async def test_event_ids_are_drawn_once_when_the_log_is_first_read() -> None:
    """The orchestrator's events carry no id until the log is built: then each gets a distinct UUID-4 text id,
    the same on every later read and in every export."""
    o = PipelineOrchestrator("p")
    o.register_agent("a", Agent())
    o.register_agent("b", Agent())
    for i in range(3):
        await o.orchestrate(f"r{i}", {})
    assert o.process_mining is not None
    ids = [e.event_id for e in o.process_mining.get_events()]
    assert len(set(ids)) == len(ids) == 3 * 7 and all(uuid.UUID(i).version == 4 for i in ids)
    assert [e.event_id for e in o.process_mining.get_events()] == ids


@given(first=st.datetimes(timezones=st.none() | st.just(timezone.utc) | st.just(timezone(timedelta(hours=-5)))),
       steps=st.lists(st.integers(-2_000_000, 2_000_000), max_size=12))
@settings(max_examples=300, deadline=None)
def test_history_timestamps_are_isoformat(first: datetime, steps: list[int]) -> None:
    """The history's ISO text is exactly ``isoformat()``: for times in the same second as the previous one (the
    kept prefix), in another second, before it, with zero microseconds, aware, and at the ends of the range."""
    ts = first
    for step in [0, *steps]:
        try:
            ts += timedelta(microseconds=step)
        except OverflowError:
            continue
        assert iso_time(ts) == ts.isoformat()
    for edge in (datetime.min, datetime.max, datetime.max.replace(microsecond=0), datetime(2024, 1, 1)):
        assert iso_time(edge) == edge.isoformat()
