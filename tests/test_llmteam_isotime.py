"""llmteam._isotime: iso_text() gives isoformat() for any time, whatever second it kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam._isotime import iso_text

_zones = st.sampled_from([None, timezone.utc, timezone(timedelta(hours=-5)), timezone(timedelta(minutes=30))])
_times = st.builds(lambda t, tz: t.replace(tzinfo=tz), st.datetimes(), _zones)


@settings(max_examples=300, deadline=None)
@given(st.lists(_times, min_size=1, max_size=6), st.lists(st.integers(-2_000_000, 2_000_000), max_size=8))
def test_iso_text_is_isoformat_for_naive_utc_and_other_zones_in_any_order(times: list[datetime],
                                                                          steps: list[int]) -> None:
    text = iso_text()
    for ts in times:  # alternating seconds, zones and naive times
        assert text(ts) == ts.isoformat()
        for step in steps:  # near the kept second: the same one, the next, the one before
            try:
                near = ts + timedelta(microseconds=step)
            except OverflowError:
                continue
            assert text(near) == near.isoformat()


def test_the_ends_of_the_range_and_a_whole_second() -> None:
    text = iso_text()
    for ts in (datetime.max, datetime.min, datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 0, 0, 5)):
        for tz in (None, timezone.utc):
            assert text(ts.replace(tzinfo=tz)) == ts.replace(tzinfo=tz).isoformat()
            assert text(ts.replace(tzinfo=tz)) == ts.replace(tzinfo=tz).isoformat()  # from the kept second
