from datetime import datetime, timedelta

import pytest

from llmteam.roles import ProcessEvent, ProcessMiningEngine

T0 = datetime(2024, 1, 1)


def add(e: ProcessMiningEngine, case: str, steps: list[tuple[str, float, str, int]]) -> None:
    for act, sec, lc, dur in steps:
        e.record_event(ProcessEvent(f"{case}{act}{sec}", T0 + timedelta(seconds=sec), act, act, case, lc, dur))


@pytest.fixture
def engine() -> ProcessMiningEngine:
    e = ProcessMiningEngine()
    add(e, "c1", [("a", 0, "start", 0), ("a", 2, "complete", 2000), ("b", 5, "start", 0), ("b", 6, "complete", 1000)])
    add(e, "c2", [("a", 0, "start", 0), ("a", 4, "complete", 4000), ("b", 5, "start", 0), ("b", 9, "complete", 4000)])
    add(e, "c3", [("a", 0, "complete", 10), ("c", 1, "error", 0)])
    return e


def test_dfg_counts_and_durations(engine: ProcessMiningEngine) -> None:
    g = engine.directly_follows_graph()
    assert g.activities == {"a": 3, "b": 2, "c": 1}
    assert g.start_activities == {"a": 3} and g.end_activities == {"b": 2, "c": 1}
    ab = g.edges[("a", "b")]
    assert ab.count == 2 and ab.total_duration == timedelta(seconds=9)
    assert ab.mean_duration == timedelta(seconds=4.5)
    assert (ab.min_duration, ab.max_duration) == (timedelta(seconds=4), timedelta(seconds=5))
    assert g.edges[("a", "c")].count == 1
    full = engine.directly_follows_graph(lifecycles=None)
    assert full.edges[("a", "a")].count == 2


def test_bottlenecks_by_service_and_waiting(engine: ProcessMiningEngine) -> None:
    service = engine.find_bottlenecks("service")
    assert [b.activity for b in service] == ["b", "a"]
    assert service[0].mean_service_time == timedelta(milliseconds=2500) and service[0].service_samples == 2
    waiting = engine.find_bottlenecks("waiting", top=None)
    assert [b.activity for b in waiting] == ["b"]
    assert waiting[0].mean_waiting_time == timedelta(seconds=2) and waiting[0].waiting_samples == 2
    with pytest.raises(ValueError, match="by='cost'"):
        engine.find_bottlenecks("cost")


def test_variants(engine: ProcessMiningEngine) -> None:
    v = engine.get_variants()
    assert [(x.activities, x.count) for x in v] == [(("a", "b"), 2), (("a", "c"), 1)]
    assert v[0].share == pytest.approx(2 / 3)


def test_cache_invalidated_on_new_events(engine: ProcessMiningEngine) -> None:
    assert engine.directly_follows_graph().activities["a"] == 3
    add(engine, "c4", [("a", 0, "complete", 0)])
    assert engine.directly_follows_graph().activities["a"] == 4
