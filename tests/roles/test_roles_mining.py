import re
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.licensing import FeatureNotLicensedError
from llmteam.roles import ProcessEvent, ProcessMiningEngine, XESImportError, _xes_import, import_xes
from llmteam.roles._mining import EventFields

from .._support.mined import mined

T0 = datetime(2024, 1, 1, 12, 0, 0)


def ev(case: str, act: str, sec: float, lifecycle: str = "complete", dur: int = 0, **attrs: object) -> ProcessEvent:
    return ProcessEvent(f"{case}-{act}-{sec}", T0 + timedelta(seconds=sec), act, "r", case, lifecycle, dur, 0.0,
                        dict(attrs))


def test_counts_clear_and_fixture(process_mining_engine: ProcessMiningEngine) -> None:
    e = process_mining_engine
    e.record_event(ev("c1", "a", 0))
    e.record_event(ev("c2", "a", 1))
    e.record_event(ev("c1", "b", 2))
    assert (e.get_event_count(), e.get_case_count()) == (3, 2)
    e.clear()
    assert (e.get_event_count(), e.get_case_count()) == (0, 0)
    assert e.export_xes() == '<?xml version="1.0" encoding="UTF-8"?>\n<log>\n</log>\n'


def test_bounded_engine_evicts_oldest_and_drops_empty_cases() -> None:
    e = ProcessMiningEngine(max_events=3)
    for i in range(5):
        e.record_event(ev(f"c{i}", "a", i))
    assert (e.get_event_count(), e.get_case_count()) == (3, 3)
    assert [x.case_id for x in e.get_events()] == ["c2", "c3", "c4"]
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError):
            ProcessMiningEngine(max_events=bad)  # type: ignore[arg-type]


def test_licence_gate_is_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    ProcessMiningEngine()
    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")
    with pytest.raises(FeatureNotLicensedError):
        ProcessMiningEngine()


def test_discover_model_sorts_by_timestamp() -> None:
    e = ProcessMiningEngine()
    e.record_event(ev("c1", "b", 5))
    e.record_event(ev("c1", "a", 1))
    e.record_event(ev("c1", "c", 9))
    e.record_event(ev("c2", "a", 0))
    e.record_event(ev("c2", "c", 1))
    m = e.discover_model()
    assert set(m.activities) == {"a", "b", "c"}
    assert m.transitions == {"a": ["b", "c"], "b": ["c"]}
    assert m.frequencies == {"a->b": 1, "b->c": 1, "a->c": 1}
    assert (m.fitness, m.precision) == (1.0, 1.0)


def test_metrics() -> None:
    e = ProcessMiningEngine()
    m = e.calculate_metrics()
    assert m.avg_duration == timedelta(0) and m.completion_rate == 0.0 and m.waiting_time_by_activity == {}
    e.record_event(ev("c1", "a", 0, dur=100))
    e.record_event(ev("c1", "Error_handler", 60, dur=300))
    e.record_event(ev("c1", "retry", 120, lifecycle="start", dur=0))
    e.record_event(ev("c2", "a", 0, lifecycle="start"))
    e.record_event(ev("c2", "b", 30, dur=50))
    e.record_event(ev("c3", "x", 10, lifecycle="start", dur=1))
    m = e.calculate_metrics()
    assert m.min_duration == timedelta(seconds=30) and m.max_duration == timedelta(seconds=120)
    assert m.avg_duration == timedelta(seconds=75)
    assert m.completion_rate == pytest.approx(2 / 3)
    assert m.error_rate == pytest.approx(1 / 6) and m.retry_rate == pytest.approx(1 / 6)
    assert m.cases_per_hour == pytest.approx(3.0)
    assert m.bottleneck_activities == ["Error_handler", "a", "b"]
    assert m.waiting_time_by_activity == {"retry": timedelta(seconds=60)}


def test_mixed_timezones_do_not_crash() -> None:
    e = ProcessMiningEngine()
    e.record_event(ev("c1", "a", 0))
    e.record_event(ProcessEvent("x", datetime(2024, 1, 1, tzinfo=timezone.utc), "b", "r", "c1"))
    assert e.calculate_metrics().avg_duration >= timedelta(0)
    assert len(e.discover_model().activities) == 2


UTC2 = timezone(timedelta(hours=2))
event_specs = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "c4"]), st.sampled_from(["a", "b", "c", "error"]),
        st.integers(0, 30), st.sampled_from(["start", "complete", "error"]), st.integers(0, 5000),
        st.booleans(),  # timezone-aware (a log that mixes naive and aware times)
    ),
    max_size=40,
)


def fields_of(e: ProcessEvent) -> EventFields:
    return (e.event_id, e.timestamp, e.activity, e.resource, e.case_id, e.lifecycle, e.duration_ms, e.cost,
            *(x for item in e.attributes.items() for x in item))


@given(specs=event_specs, cuts=st.lists(st.integers(0, 40), max_size=8), bound=st.sampled_from([None, 1, 3, 10]),
       aware=st.booleans(), reads=st.lists(st.booleans(), max_size=9))
@settings(max_examples=150, deadline=None)
def test_record_events_in_batches_mines_what_one_at_a_time_mines(
    specs: list[tuple[str, str, int, str, int, bool]], cuts: list[int], bound: int | None, aware: bool,
    reads: list[bool],
) -> None:
    """Batches of any size, with or without a bound, give the same log and the same results as one at a time.

    Batches go in as lists or iterators of events, or as the orchestrator's field tuples (built into events when
    the log is read, here sometimes between batches), so the engine's two recording forms run on the same inputs.

    The reference is a plain model of the log: cases in order of first sighting (a case emptied by eviction is
    forgotten), each sorted by time (stable), the oldest events overall evicted beyond the bound.
    """
    events = [
        ProcessEvent(f"e{i}", (T0 + timedelta(seconds=sec)).replace(tzinfo=UTC2 if (aware and tz) else None),
                     act, "r", case, lc, dur, 0.0, {"i": i, "at": sec})
        for i, (case, act, sec, lc, dur, tz) in enumerate(specs)
    ]
    one_by_one = ProcessMiningEngine(max_events=bound)
    for event in events:
        one_by_one.record_event(event)
    batched = ProcessMiningEngine(max_events=bound)
    edges = [0, *sorted(c for c in cuts if c <= len(events)), len(events)]
    for n, (lo, hi) in enumerate(zip(edges, edges[1:])):
        chunk = events[lo:hi]
        if n % 3 == 2:
            assert batched._record_fields([fields_of(e) for e in chunk]) == len(chunk)
        else:
            assert batched.record_events(chunk if n % 3 else iter(chunk)) == len(chunk)
        if n < len(reads) and reads[n]:
            batched.get_events()
    assert mined(batched) == mined(one_by_one)
    assert [(e.attributes, e.duration_ms, e.resource) for e in batched.get_events()] == [
        (e.attributes, e.duration_ms, e.resource) for e in one_by_one.get_events()]

    kept = events[-bound:] if bound is not None and events else events
    cases: dict[str, list[ProcessEvent]] = {}
    for n, event in enumerate(events):
        cases.setdefault(event.case_id, []).append(event)
        if bound is not None and n >= bound:
            oldest = events[n - bound]
            cases[oldest.case_id].remove(oldest)
            if not cases[oldest.case_id]:
                del cases[oldest.case_id]
    key = (lambda x: x.timestamp.astimezone(timezone.utc)) if aware else (lambda x: x.timestamp)
    expected = [x.event_id for evs in cases.values() for x in sorted(evs, key=key)]
    assert [x.event_id for x in batched.get_events()] == expected
    assert (batched.get_event_count(), batched.get_case_count()) == (len(kept), len(cases))


def test_process_map_of_an_activity_seen_only_outside_the_map_lifecycles() -> None:
    """A timed activity whose events are all ``start`` is not on the map (complete events only): no KeyError, and
    the legend does not name it as slow."""
    e = ProcessMiningEngine()
    e.record_event(ev("c1", "queued", 0, lifecycle="start", dur=500))
    e.record_event(ev("c1", "work", 1, dur=10))
    mermaid = e.process_map("mermaid")
    dot = e.process_map("dot")
    assert isinstance(mermaid, str) and isinstance(dot, str)
    assert "queued" not in mermaid and "queued" not in dot and "work" in mermaid


READERS = {
    "counts": lambda e: (e.get_event_count(), e.get_case_count()),
    "case count alone": lambda e: e.get_case_count(),
    "events": lambda e: [(x.event_id, x.activity) for x in e.get_events()],
    "cases": lambda e: [(cid, len(evs)) for cid, evs in e.iter_cases()],
    "model": lambda e: e.discover_model(),
    "metrics": lambda e: e.calculate_metrics(),
    "xes": lambda e: e.export_xes(),
    "variants": lambda e: e.get_variants(),
}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("bound", [None, 2])
def test_every_read_sees_the_pending_events_as_if_recorded_at_once(reader: str, bound: int | None) -> None:
    """The orchestrator appends to the engine's pending list; whatever reads the engine first gets what recording
    each event at once gives, and a later record_event lands after them."""
    events = [ev("c1", "a", 0), ev("c2", "a", 1), ev("c1", "b", 2)]
    lazy, eager = ProcessMiningEngine(max_events=bound), ProcessMiningEngine(max_events=bound)
    pending, _ = lazy._pending_log()
    pending.extend(fields_of(x) for x in events)
    for x in events:
        eager.record_event(x)
    assert READERS[reader](lazy) == READERS[reader](eager) and not pending
    pending.append(fields_of(ev("c3", "c", 3)))
    lazy.record_event(ev("c3", "d", 4))
    eager.record_event(ev("c3", "c", 3))
    eager.record_event(ev("c3", "d", 4))
    assert mined(lazy) == mined(eager)
    pending.append(fields_of(ev("c4", "x", 5)))
    lazy.clear()
    assert (lazy.get_event_count(), lazy.get_case_count()) == (0, 0)


def test_a_subclass_that_overrides_recording_is_told_to_settle_each_event() -> None:
    class Forwarding(ProcessMiningEngine):
        def record_event(self, event: ProcessEvent) -> None:
            super().record_event(event)

    assert ProcessMiningEngine()._pending_log()[1] > 1 and Forwarding()._pending_log()[1] == 1


BAD_EVENT = '<event><date key="time:timestamp" value="bogus"/></event>'


def test_a_refused_import_leaves_the_engine_as_it_was() -> None:
    # the review's move: 2000 good events, then a bad one: 1803 events stayed in the engine after the error
    good = ('<event><string key="concept:name" value="a"/><date key="time:timestamp" value="2024-01-01T00:00:00"/>'
            "</event>")
    doc = "<log><trace>" + good * 2000 + BAD_EVENT + "</trace></log>"
    for bound in (None, 10, 5000):
        e = ProcessMiningEngine(max_events=bound)
        e.record_event(ev("c1", "x", 0))
        with pytest.raises(XESImportError, match="bogus"):
            e.import_xes(doc)
        assert [(x.case_id, x.activity) for x in e.get_events()] == [("c1", "x")]
        assert e.import_xes(doc.replace(BAD_EVENT, "")) == 2000


def import_doc(events: list[ProcessEvent], bad_at: int | None) -> str:
    """The standard XES of ``events``, with an event refused for its date at the end of trace ``bad_at``."""
    scratch = ProcessMiningEngine()
    scratch.record_events(events)
    doc = scratch.export_xes(standard=True)
    if bad_at is None:
        return doc
    ends = [m.start() for m in re.finditer("</trace>", doc)]
    if not ends:
        return doc.replace("</log>", f"<trace>{BAD_EVENT}</trace></log>")
    at = ends[bad_at % len(ends)]
    return doc[:at] + BAD_EVENT + doc[at:]


def events_of(specs: list[tuple[str, str, int, str, int, bool]], prefix: str) -> list[ProcessEvent]:
    return [ProcessEvent(f"{prefix}{i}", (T0 + timedelta(seconds=sec)).replace(tzinfo=UTC2 if tz else None), act,
                         "r", case, lc, dur, 0.0, {"i": i}) for i, (case, act, sec, lc, dur, tz) in enumerate(specs)]


@given(before=event_specs, imported=event_specs, after=event_specs, bound=st.sampled_from([None, 1, 3, 10, 100]),
       bad_at=st.one_of(st.none(), st.integers(0, 10)), how=st.sampled_from(["events", "fields", "pending"]),
       chunk=st.integers(50, 2000))
@settings(max_examples=150, deadline=None)
def test_import_xes_is_all_or_nothing(before: list, imported: list, after: list, bound: int | None,
                                      bad_at: int | None, how: str, chunk: int) -> None:
    """A refused import leaves the engine exactly as it was (its log, and how it records what comes next: a twin
    that never saw the import mines the same); an accepted one records what record_events would."""
    twins = ProcessMiningEngine(max_events=bound), ProcessMiningEngine(max_events=bound)
    for e in twins:
        if how == "events":
            e.record_events(events_of(before, "b"))
        elif how == "fields":  # kept as the orchestrator's tuples, built only when the log is read
            e._record_fields([fields_of(x) for x in events_of(before, "b")])
        else:  # still on the pending list when the import starts
            e._pending_log()[0].extend(fields_of(x) for x in events_of(before, "b"))
    e, twin = twins
    doc = import_doc(events_of(imported, "i"), bad_at)
    with mock.patch.object(_xes_import, "_CHUNK", chunk):  # small reads: events are recorded before the error
        if bad_at is None:
            assert e.import_xes(doc) == len(imported)
            twin.record_events(import_xes(doc))
        else:
            with pytest.raises(XESImportError, match="bogus"):
                e.import_xes(doc)
    for x in (e, twin):
        x.record_events(events_of(after, "a"))
    assert mined(e) == mined(twin)


def test_a_subclass_that_records_itself_gets_the_events_of_a_whole_document_only() -> None:
    seen: list[ProcessEvent] = []

    class Forwarding(ProcessMiningEngine):
        def record_events(self, events: object) -> int:
            seen.extend(events)  # type: ignore[call-overload]
            return len(seen)

    doc = import_doc(events_of([("c1", "a", 0, "complete", 0, False)] * 5, "i"), 0)
    with pytest.raises(XESImportError), mock.patch.object(_xes_import, "_CHUNK", 100):
        Forwarding().import_xes(doc)
    assert seen == []
