"""The bucketed window never under-counts a trailing window, and over-counts by at most two buckets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.ratelimit._window import HOUR_GEOMETRY, MINUTE_GEOMETRY, BucketWindow, ring_size


@settings(max_examples=200, deadline=None)
@given(
    geometry=st.sampled_from([MINUTE_GEOMETRY, HOUR_GEOMETRY, (1.0, 5.0)]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=50.0), min_size=1, max_size=60),
)
def test_total_brackets_the_exact_trailing_count(geometry: tuple[float, float], gaps: list[float]) -> None:
    width, span = geometry
    window = BucketWindow(width, span)
    now, log = 100.0, []
    for gap in gaps:
        now += gap * span / 50
        window.advance(window.bucket(now))
        window.add()
        log.append(now)
        exact = sum(1 for t in log if t > now - span)
        widened = sum(1 for t in log if t > now - span - 2 * width - 1e-9)
        assert exact <= window.total <= widened


def test_time_until_below_and_clear() -> None:
    w = BucketWindow(1.0, 5.0)
    assert ring_size(1.0, 5.0) == 7
    for t in (10.0, 11.0, 12.0):
        w.advance(w.bucket(t))
        w.add()
    assert w.time_until_below(4, 12.0) == 0.0
    wait = w.time_until_below(3, 12.0)
    assert 5.0 <= wait <= 5.0 + 2 * 1.0  # the t=10 event leaves within two buckets of the exact 5 s
    w.advance(w.bucket(12.0 + wait))
    assert w.total < 3
    w.clear()
    assert w.total == 0
    w.advance(w.bucket(1000.0))  # a long gap empties the ring
    assert w.total == 0
