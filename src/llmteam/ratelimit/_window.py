"""Bounded sliding-window counters: a ring of per-bucket counts that never under-counts a trailing window.

A window of ``span`` seconds is cut into buckets of ``width`` seconds; the ring keeps ``span/width + 2`` buckets,
one more than needed to cover any trailing window plus one of margin against floating-point rounding at bucket
edges. The total therefore counts every event in the trailing window (and possibly some up to two buckets
older): a limiter that admits only while ``total < limit`` never admits more than ``limit`` in any trailing
window, and refuses at most ``2 * width`` seconds' worth early. Memory is bounded by the geometry, never by
traffic, and a window holds only the buckets that still count an event (one counter for a limit used once).
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
    """Counts events per bucket over a trailing span; ``total`` over-approximates the trailing count.

    Only the buckets from the oldest one still counting an event to the newest one with an event are stored (a
    list, oldest first, from bucket ``first``): a window with one event keeps one counter, a busy one at most
    ``size``, so a limit used once costs a few dozen bytes for the hour it is remembered, not a full ring.
    """

    __slots__ = ("counts", "first", "last", "scale", "size", "total", "width")

    def __init__(self, width: float, span: float) -> None:
        self.width = width
        self.scale = 1.0 / width
        self.size = ring_size(width, span)
        self.counts: list[int] = []  # events of buckets first, first + 1, ... (empty: no event in the ring)
        self.first = 0  # id of the bucket counts[0] holds
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
        if bucket <= self.last:
            return
        self.last = bucket
        counts = self.counts
        drop = bucket - self.size + 1 - self.first  # buckets before bucket - size + 1 leave the ring
        if drop <= 0 or not counts:
            return
        if drop >= len(counts):
            counts.clear()
            self.total = 0
            return
        self.total -= sum(counts[:drop])
        while drop < len(counts) - 1 and counts[drop] == 0:  # no leading empty bucket is kept
            drop += 1
        del counts[:drop]
        self.first += drop

    def add(self, count: int = 1) -> None:
        """Record ``count`` events in the newest bucket (call :meth:`advance` first)."""
        try:
            self.counts[self.last - self.first] += count  # the usual case: the newest bucket is stored already
        except IndexError:
            self._store(count)
        self.total += count

    def _store(self, count: int) -> None:
        """Store the newest bucket with ``count`` events (the empty ones before it as zeros)."""
        counts = self.counts
        if counts:
            counts.extend([0] * (self.last - self.first - len(counts)))
        else:
            self.first = self.last
        counts.append(count)

    def clear(self) -> None:
        """Forget every event."""
        self.counts.clear()
        self.total = 0

    def time_until_below(self, limit: float, now: float) -> float:
        """Seconds from ``now`` until ``total < limit`` if nothing more is added (0.0 when already below)."""
        total = self.total
        if total < limit:
            return 0.0
        for i, count in enumerate(self.counts):
            total -= count
            if total < limit:
                # bucket first + i leaves the ring when bucket first + i + size becomes the newest
                return max(0.0, (self.first + i + self.size) * self.width - now)
        return math.inf  # pragma: no cover - unreachable for limit > 0
