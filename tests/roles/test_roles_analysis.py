from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_LIFECYCLES = ["start", "complete", "error"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2", "c3"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(0, 10_000),
            st.sampled_from(_LIFECYCLES),
        ),
        max_size=60,
    ),
    st.sampled_from([None, frozenset({"complete", "error"}), frozenset({"start"})]),
)
@settings(max_examples=200, deadline=None)
def test_dfg_equals_a_plain_pairwise_oracle(
    rows: list[tuple[str, str, int, str]], lifecycles: frozenset[str] | None
) -> None:
    """The one-pass DFG agrees with the obvious filter-then-pairwise computation on any log."""
    engine = ProcessMiningEngine()
    for i, (case, act, ms, lc) in enumerate(rows):
        engine.record_event(ProcessEvent(f"e{i}", T0 + timedelta(milliseconds=ms), act, "r", case, lc))
    graph = engine.directly_follows_graph(lifecycles=lifecycles)

    activities: Counter[str] = Counter()
    starts: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    gaps: dict[tuple[str, str], list[timedelta]] = {}
    for _, events in engine.iter_cases():
        kept = [e for e in events if lifecycles is None or e.lifecycle in lifecycles]
        if not kept:
            continue
        activities.update(e.activity for e in kept)
        starts[kept[0].activity] += 1
        ends[kept[-1].activity] += 1
        for x, y in pairwise(kept):
            gaps.setdefault((x.activity, y.activity), []).append(y.timestamp - x.timestamp)
    assert graph.activities == dict(activities)
    assert graph.start_activities == dict(starts) and graph.end_activities == dict(ends)
    assert {k: (e.count, e.total_duration, e.min_duration, e.max_duration) for k, e in graph.edges.items()} == {
        k: (len(g), sum(g, timedelta(0)), min(g), max(g)) for k, g in gaps.items()
    }


def test_waits_count_as_waiting_never_as_service(engine: ProcessMiningEngine) -> None:
    from llmteam.roles import WAIT_LIFECYCLE

    service_before = {b.activity: b.mean_service_time for b in engine.find_bottlenecks("service", top=None)}
    add(engine, "c1", [("wait:queue", -0.5, WAIT_LIFECYCLE, 30_000)])  # stamped when the wait ended
    add(engine, "c2", [("wait:queue", -0.5, WAIT_LIFECYCLE, 10_000), ("wait:approval", 4.5, WAIT_LIFECYCLE, 60_000)])
    service = {b.activity: b.mean_service_time for b in engine.find_bottlenecks("service", top=None)}
    assert service == service_before  # a queue or approval wait is no activity's service time
    metrics = engine.calculate_metrics()
    assert "wait:queue" not in metrics.bottleneck_activities
    assert metrics.waiting_time_by_activity["wait:queue"] == timedelta(seconds=20)
    assert metrics.waiting_time_by_activity["wait:approval"] == timedelta(seconds=60)
    # c2: the approval wait ended at 4.5 s, so "b" (start at 5 s) waited 0.5 s more, not 1 s: no double count
    assert metrics.waiting_time_by_activity["b"] == timedelta(seconds=(3 + 0.5) / 2)
    slowest = engine.find_bottlenecks("waiting", top=1)[0]
    assert (slowest.activity, slowest.waiting_samples, slowest.service_samples) == ("wait:approval", 1, 0)
    assert "wait:queue" not in engine.directly_follows_graph().activities  # not a step of the process


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10_000)), max_size=20),
       st.lists(st.integers(0, 100_000), min_size=1, max_size=10))
def test_adding_waits_never_changes_service_times(steps: list[tuple[int, int]], waits: list[int]) -> None:
    from llmteam.roles import WAIT_LIFECYCLE

    e = ProcessMiningEngine()
    add(e, "c", [(f"a{a}", i, "complete", d) for i, (a, d) in enumerate(steps)])
    before = e.find_bottlenecks("service", top=None)
    add(e, "c", [("wait:queue", 0.5 + i, WAIT_LIFECYCLE, w) for i, w in enumerate(waits)])
    assert e.find_bottlenecks("service", top=None) == before
    assert e.calculate_metrics().waiting_time_by_activity["wait:queue"] == timedelta(
        milliseconds=sum(waits)) / len(waits)


def _everything(e: ProcessMiningEngine) -> None:
    e.calculate_metrics()
    e.find_bottlenecks("service", None)
    e.find_bottlenecks("waiting", None)
    e.directly_follows_graph(lifecycles=None)
    e.process_map("mermaid")


def test_sums_past_timedelta_max_do_not_crash_and_means_stay_exact() -> None:
    # an XES file of values each in range still summed past timedelta.max (about 2.7 million years): 12 waits of
    # the longest duration the importer takes, or 300 cases from year 1 to 9999, crashed find_bottlenecks,
    # calculate_metrics and process_map with OverflowError
    longest = 9_999_999_999_999_999
    waits = ProcessMiningEngine()
    waits.record_events(ProcessEvent(f"w{i}", T0, "w", "r", "c", "wait", longest) for i in range(12))
    _everything(waits)
    (w,) = waits.find_bottlenecks("waiting")
    assert w.mean_waiting_time == timedelta(milliseconds=longest) and w.waiting_samples == 12
    spans = ProcessMiningEngine()
    first, last = datetime(1, 1, 2), datetime(9999, 12, 30)
    for i in range(300):
        spans.record_event(ProcessEvent(f"a{i}", first, "a", "r", f"c{i}"))
        spans.record_event(ProcessEvent(f"b{i}", last, "b", "r", f"c{i}", "start"))
    _everything(spans)
    assert spans.calculate_metrics().avg_duration == last - first
    assert spans.find_bottlenecks("waiting")[0].mean_waiting_time == last - first
    edge = spans.directly_follows_graph(lifecycles=None).edges[("a", "b")]
    assert edge.count == 300 and edge.total_duration == timedelta.max  # saturated: no timedelta holds the sum
    assert edge.mean_duration == last - first and edge.min_duration == edge.max_duration == last - first


def test_durations_past_what_timedelta_holds_are_shown_as_its_limit() -> None:
    # a ProcessEvent built in code (or read from a durable log, which stores 64 bits) may carry any duration
    e = ProcessMiningEngine()
    e.record_event(ProcessEvent("x", T0, "a", "r", "c", "complete", 2**62))
    e.record_event(ProcessEvent("y", T0, "w", "r", "c", "wait", 2**62))
    _everything(e)
    assert e.find_bottlenecks()[0].mean_service_time == timedelta.max
