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


# --- review 2026-11-30, finding 8: a ring stores only the buckets that still count, and decides as before -------


class DenseRing:
    """The full ring of ``size`` counters that BucketWindow kept before: the reference it must agree with."""

    def __init__(self, width: float, span: float) -> None:
        self.width, self.size = width, ring_size(width, span)
        self.counts, self.last, self.total = [0] * self.size, -1, 0

    def advance(self, bucket: int) -> None:
        for k in range(self.last + 1, bucket + 1) if bucket - self.last < self.size else range(0):
            self.total -= self.counts[k % self.size]
            self.counts[k % self.size] = 0
        if bucket - self.last >= self.size:
            self.counts, self.total = [0] * self.size, 0
        self.last = max(self.last, bucket)

    def add(self) -> None:
        self.counts[self.last % self.size] += 1
        self.total += 1

    def time_until_below(self, limit: float, now: float) -> float:
        total = self.total
        for k in range(self.last - self.size + 1, self.last + 1):
            if total < limit:
                break
            total -= self.counts[k % self.size]
            if total < limit:
                return max(0.0, (k + self.size) * self.width - now)
        return 0.0


@settings(max_examples=300, deadline=None)
@given(
    geometry=st.sampled_from([MINUTE_GEOMETRY, HOUR_GEOMETRY, (1.0, 5.0)]),
    steps=st.lists(st.tuples(st.floats(min_value=0.0, max_value=2.0), st.integers(0, 3)), min_size=1, max_size=80),
)
def test_the_compact_ring_decides_exactly_like_the_full_one(
    geometry: tuple[float, float], steps: list[tuple[float, int]]
) -> None:
    width, span = geometry
    compact, dense = BucketWindow(width, span), DenseRing(width, span)
    now = 1000.0
    for gap, events in steps:
        now += gap * span / 7
        bucket = compact.bucket(now)
        compact.advance(bucket)
        dense.advance(bucket)
        for _ in range(events):
            compact.add()
            dense.add()
        assert compact.total == dense.total and len(compact.counts) <= compact.size
        for limit in range(1, compact.total + 2):
            assert compact.time_until_below(limit, now) == dense.time_until_below(limit, now)


def test_a_window_used_once_keeps_one_counter_and_none_once_it_passed() -> None:
    w = BucketWindow(*MINUTE_GEOMETRY)
    w.advance(w.bucket(100.0))
    w.add()
    assert w.counts == [1]  # it was a ring of 602 counters, whatever the traffic
    w.advance(w.bucket(150.0))
    w.add()
    assert w.total == 2 and len(w.counts) == 501
    w.advance(w.bucket(161.0))  # the first event left: the empty buckets before the second go with it
    assert w.counts == [1] and w.total == 1
    w.advance(w.bucket(300.0))
    assert w.counts == [] and w.total == 0
