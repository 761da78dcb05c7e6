from datetime import datetime, timedelta, timezone

import pytest

from llmteam.licensing import FeatureNotLicensedError
from llmteam.roles import ProcessEvent, ProcessMiningEngine

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
