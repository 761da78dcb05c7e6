from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmteam.roles._xes_time import Clock, Hour, UTCText

from .._support.zones import local_zone

ISO = datetime.isoformat


class _Stamp(datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return '"/><injected/>'


def _composed(hour: Hour, ts: datetime) -> str | None:
    """What the trace writer writes for ``ts`` from ``hour`` (None: outside it, the writer formats ``ts`` itself)."""
    zone, lo, hi, base, prefix, (mmss, whole, millis, micros) = hour
    if not (type(ts) is datetime and ts.tzinfo is zone and lo <= ts < hi and not ts.fold):
        return None
    d = ts - base
    if d.microseconds:
        return prefix + mmss[d.seconds] + millis[d.microseconds // 1000] + micros[d.microseconds % 1000]
    return prefix + whole[d.seconds]


def test_utc_text_of_naive_local_and_aware_times() -> None:
    utc = UTCText()
    with local_zone("America/New_York"):
        assert utc(datetime(2024, 7, 1, 12, 0, 0, 5)) == "2024-07-01T16:00:00.000005+00:00"
        assert utc(datetime(2024, 1, 1, 12)) == "2024-01-01T17:00:00+00:00"
        assert utc(datetime(2024, 11, 3, 1, 30)) == "2024-11-03T05:30:00+00:00"
        assert utc(datetime(2024, 11, 3, 1, 30, fold=1)) == "2024-11-03T06:30:00+00:00"  # the repeated hour
        assert utc(datetime(1850, 1, 1, 12)) == "1850-01-01T16:56:02+00:00"  # local mean time: -4:56:02
    assert utc(datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))) == "2024-01-01T10:00:00+00:00"
    assert utc(_Stamp(2024, 1, 1, 12, tzinfo=timezone.utc)) == "2024-01-01T12:00:00+00:00"  # never its isoformat


def test_clock_starts_an_hour_only_for_naive_and_utc_times_it_can_compose() -> None:
    clock = Clock(ISO)
    assert clock.start(datetime(2024, 1, 1, 12, 5, 7, 9)) == ("2024-01-01T12:05:07.000009", (
        None, datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 13), datetime(2024, 1, 1, 12), "2024-01-01T12:",
        clock.hour[5]))
    text, hour = clock.start(datetime(2024, 1, 1, 12, 5, tzinfo=timezone.utc))
    assert text == "2024-01-01T12:05:00+00:00" and hour is not None and hour[0] is timezone.utc
    assert hour[5][1][5 * 60] == "05:00+00:00"  # the tables end the text as isoformat did
    for ts in (datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))), datetime(2024, 1, 1, 12, fold=1),
               datetime(9999, 12, 31, 23, 30), datetime(9999, 12, 31, 23, 30, tzinfo=timezone.utc)):
        assert clock.start(ts) == (ISO(ts), None)
    assert clock.start(_Stamp(2024, 1, 1, 12)) == ("2024-01-01T12:00:00", None)  # a subclass: never composed


def test_a_half_hour_offset_gives_the_part_of_the_utc_hour_within_the_local_hour() -> None:
    with local_zone("Asia/Kolkata"):  # +5:30: local 10:15 is 04:45 UTC, whose hour starts at local 09:30
        text, hour = Clock(UTCText()).start(datetime(2024, 1, 1, 10, 15))
    assert text == "2024-01-01T04:45:00+00:00" and hour is not None
    assert hour[1:5] == (datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 10, 30), datetime(2024, 1, 1, 9, 30),
                         "2024-01-01T04:")


def test_a_naive_time_in_the_spring_forward_gap_is_written_as_python_converts_it() -> None:
    """02:30 on the night clocks jump from 02:00 to 03:00 does not exist. The event log sorts it, and mining reads
    it, as ``ts.astimezone(timezone.utc)`` converts it (00:30Z, fold=0); the XES writer wrote another instant, an
    hour later (it subtracted the offset of the moved wall time 01:30+01:00 from 02:30), so an exported log could
    disagree with the stored log's own order."""
    utc = UTCText()
    with local_zone("Europe/Berlin"):
        for ts in (datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 2, 0), datetime(2026, 3, 29, 2, 30, fold=1)):
            assert utc(ts) == ts.astimezone(timezone.utc).isoformat()
        assert utc(datetime(2026, 3, 29, 2, 30)) == "2026-03-29T00:30:00+00:00"


# Nights clocks change in the zones below (gaps and repeated hours, of an hour and of half an hour), and any time.
_CHANGE_DAYS = [datetime(2026, 3, 29), datetime(2026, 10, 25), datetime(2026, 3, 8), datetime(2026, 11, 1),
                datetime(2026, 4, 5), datetime(2026, 10, 4)]
_naive = st.builds(lambda day, minutes, fold: (day + timedelta(minutes=minutes)).replace(fold=fold),
                   st.sampled_from(_CHANGE_DAYS), st.integers(0, 5 * 60), st.sampled_from([0, 1])) | st.datetimes(
                       min_value=datetime(1840, 1, 1), max_value=datetime(2040, 12, 31))


@settings(max_examples=300, deadline=None)
@given(st.lists(_naive, min_size=1, max_size=20),
       st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]))
@example(times=[datetime(2026, 10, 4, 2, 0, fold=1), datetime(2026, 10, 4, 2, 30, fold=1)],
         zone="Australia/Lord_Howe")  # found by hypothesis in a suite run: Lord Howe's clocks move by half an hour
def test_every_naive_time_is_written_as_astimezone_utc_gives_it(times: list[datetime], zone: str) -> None:
    """The per-hour offset cache never changes the answer: every naive time, including times in a gap or a repeated
    hour (either fold), is written as ``ts.astimezone(timezone.utc).isoformat()``."""
    with local_zone(zone):
        utc = UTCText()
        for ts in times + times:  # the second pass reads the cache the first one filled
            assert utc(ts) == ts.astimezone(timezone.utc).isoformat()


_starts = st.sampled_from([datetime(2024, 1, 1, 12), datetime(2024, 11, 3, 0, 30), datetime(2024, 3, 10, 1, 30),
                           datetime(2024, 4, 7, 1), datetime(2024, 10, 6, 1, 10), datetime(1850, 1, 1, 12),
                           datetime(2026, 10, 4, 1, 20), datetime(2026, 4, 5, 0, 50), datetime(1883, 11, 18, 11, 30)])
_times = st.builds(lambda t, us, tz, fold: (t + timedelta(microseconds=us)).replace(tzinfo=tz, fold=fold), _starts,
                   st.integers(0, 3 * 3_600_000_000) | st.sampled_from([0, 1, 3_599_999_999, 3_600_000_000]),
                   st.sampled_from([None, None, timezone.utc]), st.sampled_from([0, 0, 1]))


@settings(max_examples=300, deadline=None)
@given(_times, st.lists(_times, max_size=8), st.booleans(),
       st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Adelaide", "Australia/Lord_Howe"]))
def test_every_time_within_a_started_hour_is_composed_as_its_exact_text(
    first: datetime, later: list[datetime], standard: bool, zone: str
) -> None:
    with local_zone(zone):
        exact = UTCText() if standard else ISO
        clock = Clock(exact)
        text, hour = clock.start(first)
        assert text == exact(first)
        if hour is not None:
            assert _composed(hour, first) == text
            for ts in later:
                assert _composed(hour, ts) in (None, exact(ts))


def test_an_hour_whose_clocks_move_by_half_an_hour_is_converted_minute_by_minute() -> None:
    """On Lord Howe Island clocks jump from 02:00 to 02:30 (and fall back from 02:00 to 01:30): one local hour has
    two offsets, so neither the per-hour offset cache nor a composed hour may take one offset for all of it."""
    with local_zone("Australia/Lord_Howe"):
        for day, hour in ((datetime(2026, 10, 4), 2), (datetime(2026, 4, 5), 1)):
            times = [day.replace(hour=hour, minute=m, fold=f) for m in (59, 0, 15, 29, 30, 45) for f in (0, 1)]
            utc = UTCText()
            assert [utc(ts) for ts in times] == [ts.astimezone(timezone.utc).isoformat() for ts in times]
            for first in times:
                text, started = Clock(UTCText()).start(first)
                assert text == first.astimezone(timezone.utc).isoformat()
                if started is not None:
                    assert all(_composed(started, ts) in (None, utc(ts)) for ts in times), first


def test_an_hour_started_after_local_mean_time_ended_is_not_composed_before_that() -> None:
    """New York left local mean time (-4:56:02) at 12:03:58 on 18 November 1883: an hour started at 12:10 (17:10Z)
    wrote 12:01 as 17:01Z, four minutes from the 16:57:02Z that ``astimezone`` gives."""
    with local_zone("America/New_York"):
        utc = UTCText()
        text, hour = Clock(utc).start(datetime(1883, 11, 18, 12, 10))
        assert text == "1883-11-18T17:10:00+00:00"
        for minute in range(60):
            ts = datetime(1883, 11, 18, 12, minute)
            assert hour is None or _composed(hour, ts) in (None, utc(ts)), ts


@pytest.mark.parametrize("end", ["", "+00:00"])
def test_tables_are_built_once_per_process(end: str) -> None:
    a, b = Clock(ISO), Clock(ISO)
    assert a.hour[5] is b.hour[5]
    ts = datetime(2024, 1, 1, 12, tzinfo=timezone.utc if end else None)
    assert a.start(ts)[1][5] is b.start(ts)[1][5]  # type: ignore[index]
