"""Bounded sliding-window counters: a ring of per-bucket counts that never under-counts a trailing window.

A window of ``span`` seconds is cut into buckets of ``width`` seconds; the ring keeps ``span/width + 2`` buckets,
one more than needed to cover any trailing window plus one of margin against floating-point rounding at bucket
edges. The total therefore counts every event in the trailing window (and possibly some up to two buckets
older): a limiter that admits only while ``total < limit`` never admits more than ``limit`` in any trailing
window, and refuses at most ``2 * width`` seconds' worth early. Memory is fixed by the geometry, not by traffic.
"""

from __future__ import annotations

import math

# (bucket width in seconds, trailing span in seconds) of the two windows of contract rule (b).
# The Redis Lua script receives these from Python, so they live only here.
MINUTE_GEOMETRY = (0.1, 60.0)
HOUR_GEOMETRY = (10.0, 3600.0)


def ring_size(width: float, span: float) -> int:
    """Number of buckets a ring needs to cover ``span`` conservatively (see the module docstring)."""
    return round(span / width) + 2


class BucketWindow:
    """Counts events per bucket over a trailing span; ``total`` over-approximates the trailing count."""

    __slots__ = ("counts", "last", "scale", "size", "total", "width")

    def __init__(self, width: float, span: float) -> None:
        self.width = width
        self.scale = 1.0 / width
        self.size = ring_size(width, span)
        self.counts = [0] * self.size
        self.last = -1  # id of the newest bucket the ring holds
        self.total = 0

    def bucket(self, now: float) -> int:
        """The id of the bucket holding time ``now``."""
        return int(now * self.scale)

    def count_at(self, now: float) -> int:
        """Advance to the bucket holding ``now`` and return the trailing count there."""
        self.advance(self.bucket(now))
        return self.total

    def advance(self, bucket: int) -> None:
        """Drop buckets older than the ring so that ``bucket`` is the newest; never moves backwards."""
        last = self.last
        if bucket <= last:
            return
        counts, size = self.counts, self.size
        if bucket - last >= size:
            for i in range(size):
                counts[i] = 0
            self.total = 0
        else:
            total = self.total
            for k in range(last + 1, bucket + 1):
                i = k % size
                total -= counts[i]
                counts[i] = 0
            self.total = total
        self.last = bucket

    def add(self, count: int = 1) -> None:
        """Record ``count`` events in the newest bucket (call :meth:`advance` first)."""
        self.counts[self.last % self.size] += count
        self.total += count

    def clear(self) -> None:
        """Forget every event."""
        for i in range(self.size):
            self.counts[i] = 0
        self.total = 0

    def time_until_below(self, limit: float, now: float) -> float:
        """Seconds from ``now`` until ``total < limit`` if nothing more is added (0.0 when already below)."""
        total = self.total
        if total < limit:
            return 0.0
        size, counts = self.size, self.counts
        for k in range(self.last - size + 1, self.last + 1):
            total -= counts[k % size]
            if total < limit:
                # bucket k leaves the ring when bucket k + size becomes the newest
                return max(0.0, (k + size) * self.width - now)
        return math.inf  # pragma: no cover - unreachable for limit > 0
