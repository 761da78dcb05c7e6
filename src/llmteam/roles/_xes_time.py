"""Timestamps of the XES writers: UTC text of naive and aware datetimes, and a clock that reuses an hour's text."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

_ISO = datetime.isoformat
UTC_END = "+00:00"
_HOUR = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)


def _shift(ts: datetime) -> timedelta:
    """How far Python's own conversion moves a naive wall time: in a spring-forward gap (a time that does not exist)
    ``astimezone()`` moves the wall time too, so the ``utcoffset()`` of its result would be the wrong one."""
    return ts - ts.astimezone(timezone.utc).replace(tzinfo=None)


_MIXED = timedelta.max  # no real shift: the hour has two (clocks moved within it), each time is converted alone
_LAST = timedelta(minutes=59, seconds=59, microseconds=999_999)


class UTCText:
    """Naive-local/aware datetimes to UTC ISO text, caching the local UTC offset per hour.

    Every time is converted as ``astimezone(timezone.utc)`` converts it, the rule the event log sorts by
    (``timestamp_us``) and mining reads mixed logs with, also for a naive time in a spring-forward gap.

    A naive datetime is formatted once: its first 13 characters name the hour whose offset is looked up, and with a
    zero offset (a machine on UTC) that text is the answer as it stands. An hour's offset is kept only if its first
    and its last microsecond (same fold) shift as the time itself does: where clocks move within an hour (by half
    an hour on Lord Howe Island, at an odd minute in local mean time), every time of that hour is converted alone.
    The text always comes from ``datetime.isoformat`` itself: a subclass's own ``isoformat`` could return markup,
    and this text is not escaped.
    """

    __slots__ = ("_offsets",)

    def __init__(self) -> None:
        self._offsets: dict[str, timedelta] = {}

    def __call__(self, ts: datetime) -> str:
        if ts.tzinfo is None:
            text = _ISO(ts)
            hour = text[:13] if not ts.fold else text[:13] + "/1"  # the repeated hour at the end of summer time
            offset = self._offsets.get(hour)
            if offset is None:
                offset = _shift(ts)
                start = datetime(ts.year, ts.month, ts.day, ts.hour, fold=ts.fold)
                if len(self._offsets) < 100_000:
                    self._offsets[hour] = offset if offset == _shift(start) == _shift(start + _LAST) else _MIXED
            elif offset is _MIXED:
                offset = _shift(ts)
            return text + UTC_END if not offset else _ISO(ts - offset) + UTC_END
        return _ISO(ts if ts.tzinfo is timezone.utc else ts.astimezone(timezone.utc))


Tables = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@functools.cache
def _tables(end: str) -> Tables:
    """Digits as text, built once per process: ``MM:SS`` for each second of an hour, bare and followed by ``end``,
    ``.mmm`` for each millisecond and ``uuu`` + ``end`` for each remaining microsecond."""
    minutes_seconds = tuple(f"{n // 60:02d}:{n % 60:02d}" for n in range(3600))
    return (minutes_seconds, tuple(text + end for text in minutes_seconds), tuple(f".{n:03d}" for n in range(1000)),
            tuple(f"{n:03d}{end}" for n in range(1000)))


# (zone, first and last-but-one instant, start of the hour the text counts from, text up to the hour, tables)
Hour = tuple[Any, datetime, datetime, datetime, str, Tables]
_NO_ZONE = object()  # no timestamp's tzinfo is this: nothing is composed until ``Clock.start`` finds an hour


def compose(hour: Hour, ts: datetime) -> str:
    """The text of ``ts`` composed from ``hour``'s tables, as the trace writer composes it (``ts`` within the hour)."""
    d = ts - hour[3]
    seconds, micro, tables = d.seconds, d.microseconds, hour[5]
    if micro:
        return hour[4] + tables[0][seconds] + tables[2][micro // 1000] + tables[3][micro % 1000]
    return hour[4] + tables[1][seconds]


class Clock:
    """Timestamps as text: the exact text once per hour, the rest composed from tables (no number formatting).

    Formatting a datetime costs more than anything else written per event. ``start(ts)`` returns the exact text
    (``exact``: ``UTCText`` in the standard layout, ``datetime.isoformat`` in the compact one) and, where later
    timestamps can be written from it, their hour: ``(zone, lo, hi, base, prefix, tables)``. A timestamp ``ts`` of
    exactly ``datetime`` with that zone and ``lo <= ts < hi`` (and no fold, where the caller asks) is written as
    ``prefix`` (``YYYY-MM-DDTHH:``), then, from ``d = ts - base``, the tables' ``MM:SS`` for ``d.seconds`` and
    its fraction for ``d.microseconds`` (none when zero, as ``isoformat`` writes it), and the end of the text
    (``+00:00`` or nothing) that ``start`` found.

    ``base`` is where the written hour starts (for a naive time in the standard layout: local time of the start of
    the UTC hour it is written in) and ``[lo, hi)`` the part of that hour within the local hour of ``ts``, over
    which ``UTCText`` takes one offset. The hour is kept only for naive and UTC timestamps and only if composing
    ``ts`` itself gives exactly the text ``start`` returned, and composing the first and the last microsecond of
    ``[lo, hi)`` gives their exact text (so clocks did not move within it): an offset of seconds (local mean time),
    another zone or a datetime subclass is formatted every time.
    """

    __slots__ = ("_exact", "hour")

    def __init__(self, exact: Callable[[datetime], str]) -> None:
        self._exact = exact
        self.hour: Hour = (_NO_ZONE, datetime.min, datetime.min, datetime.min, "", _tables(""))
        """The hour the last trace ended in: the next trace starts from it."""

    def start(self, ts: datetime) -> tuple[str, Hour | None]:
        """The exact text of ``ts``, and its hour when later timestamps of that hour can be composed from it."""
        text = self._exact(ts)
        if type(ts) is not datetime or ts.fold or not (ts.tzinfo is None or ts.tzinfo is timezone.utc):
            return text, None
        tables = _tables(UTC_END if text.endswith(UTC_END) else "")
        written = int(text[14:16]) * 60 + int(text[17:19])  # the seconds into its hour that the text says
        try:
            base = ts - timedelta(0, written, ts.microsecond)
            local = ts - timedelta(0, ts.minute * 60 + ts.second, ts.microsecond)
            lo, hi = max(base, local), min(base, local) + _HOUR
            hour = (ts.tzinfo, lo, hi, base, text[:14], tables)
            # one offset over [lo, hi): composing ts and both ends gives their exact text (clocks move at most once
            # in an hour: where they move within it, as local mean time ends at an odd minute, an end differs)
            if compose(hour, ts) != text or compose(hour, lo) != self._exact(lo) or \
                    compose(hour, hi - _MICROSECOND) != self._exact(hi - _MICROSECOND):
                return text, None
            return text, hour
        except OverflowError:  # the last hour of year 9999 (or a first one shifted before year 1): every time
            return text, None
