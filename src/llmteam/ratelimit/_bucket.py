"""The token bucket's two rules beyond contract rule (a): the credit a late waiter keeps, and slack windows.

**Late waiters.** A waiter sleeps until the bucket holds a token, but the event loop (and, on Redis, the round
trip) wakes it a little late. With ``burst_size=1`` the bucket is already full then, so the refill of that lateness
would overflow and be lost: at 100/s a 1 ms late wake-up costs 10 % of the rate. A *due* waiter (one woken for a
token it was told to wait for) is therefore charged at the moment the bucket filled, but never earlier than
:func:`late_credit` seconds before its decision: the bucket, read at the charge times, is exact, so admissions
stay on the ideal timeline ``t0, t0 + 1/rate, t0 + 2/rate...`` and over any span that starts at the bucket's
creation (or at a charge time) at most ``burst_size + rate * span`` are admitted. Counted by decision time
instead, a window of ``span`` seconds holds at most ``burst_size + rate * (span + late_credit)`` admissions: the
credit is at most half an interval, so with ``burst_size=1`` two admissions are never closer than ``0.5 / rate``.
Callers that are not waiting are charged at their decision time: an idle bucket never banks more than
``burst_size``.

**Reserving waiters.** A waiter on a shared (Redis) bucket pays a round trip, and under load two scheduler
delays (its own wake-up, the server's), before its decision: arriving late by more than the credit loses rate.
So it asks :func:`reservation` seconds *before* its token is due, and a due waiter whose token is due within that
lead is admitted for it: charged at the moment the token is due (the bucket goes into debt until then: its
``tokens`` fall below zero), and it proceeds only then (the decision's ``wait``). The charge times stay on the
ideal timeline, so both bounds above hold with each admission counted when it proceeds (its charge time, or
its decision when it was not reserved). A tracked window counts an admission when it is decided, so a limit
with a tracked window reserves nothing (:func:`reservation` is 0). Its request now reaches the server within
``lead + credit`` of the token instead of within ``credit``.

**Slack windows.** The bucket alone admits at most ``burst_size + rate * (span + late_credit)`` in any ``span``;
when that is within a window's limit the window can never refuse anything, so it is not tracked at all.

A bucket stores ``tokens`` and ``stamp``: the time of its last refill, or, when full, the moment it became full
(so reading a full bucket never loses a waiter's credit). The in-memory state and the Redis script
(``lua/acquire.lua``) implement exactly these rules.
"""

from __future__ import annotations

from ._window import HOUR_GEOMETRY, MINUTE_GEOMETRY

MAX_LATE_CREDIT = 0.05  # seconds: above event-loop and round-trip lateness on a busy machine


def late_credit(rate: float) -> float:
    """Seconds a due waiter may be charged before its decision: ``min(0.5 / rate, MAX_LATE_CREDIT)``."""
    return min(0.5 / rate, MAX_LATE_CREDIT)


def window_binds(capacity: float, rate: float, span: float, limit: float) -> bool:
    """False when the bucket alone keeps every ``span``-second window below ``limit`` admissions."""
    return capacity + rate * (span + late_credit(rate)) > limit


def reservation(capacity: float, rate: float, per_minute: float, per_hour: float) -> float:
    """Seconds before its token a due waiter may be admitted for it: ``late_credit(rate)`` when neither window
    is tracked (the bucket alone keeps both below their limits), else 0."""
    for (_, span), limit in ((MINUTE_GEOMETRY, per_minute), (HOUR_GEOMETRY, per_hour)):
        if window_binds(capacity, rate, span, limit):
            return 0.0
    return late_credit(rate)
