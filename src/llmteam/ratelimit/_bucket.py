"""The token bucket's rules beyond contract rule (a): the credit a late waiter keeps, the token an early waiter
reserves, and slack windows.

**Late waiters.** A waiter sleeps until the bucket holds a token, but the event loop (and, on Redis, the round
trip) wakes it a little late. With ``burst_size=1`` the bucket is already full then, so the refill of that lateness
would overflow and be lost: at 100/s a 1 ms late wake-up costs 10 % of the rate. A *due* waiter (one woken for a
token it was told to wait for) is therefore charged at the moment the bucket filled, but never earlier than
:func:`late_credit` seconds before its decision. Callers that are not waiting are charged at their decision time:
an idle bucket never banks more than ``burst_size``.

**Early waiters.** Under load a wake-up (and on Redis the round trip, the server's own wake-up included) can be
late by more than that credit. So a waiter asks :func:`reservation` seconds (the same half interval, capped at
50 ms) *before* its token is due, and a due waiter whose token is due within that lead is admitted for it: it is
charged at the moment the token is due, the bucket owes that token until then (its ``tokens`` fall below zero,
so nobody else gets it), and the waiter proceeds only then (the decision's ``wait``; a waiter cancelled in
between gives its permit back and the token is spent). Its decision may now come anywhere from ``lead`` before
to ``credit`` after its token without losing rate; how late it then proceeds costs nothing, since the next
token's time is fixed by the charge. A tracked window counts an admission when it is decided, so a limit with a
tracked window reserves nothing (:func:`reservation` is 0).

**The bounds.** Count each admission when it *proceeds*: at its decision, or, reserved, when its token is due.
The bucket read at the charge times is exact, so admissions stay on the ideal timeline
``t0, t0 + 1/rate, t0 + 2/rate...``: from the bucket's creation to any moment at most
``burst_size + rate * span`` proceed, and a window of ``span`` seconds holds at most
``burst_size + rate * (span + late_credit)``. The credit is at most half an interval, so with ``burst_size=1``
two admissions never proceed closer than ``0.5 / rate`` apart. On Redis these are the server's times.

**Slack windows.** The bucket alone admits at most ``burst_size + rate * (span + late_credit)`` in any ``span``;
when that is within a window's limit the window can never refuse anything, so it is not tracked at all.

A bucket stores ``tokens`` and ``stamp``: the time of its last refill, or, when full, the moment it became full
(so reading a full bucket never loses a waiter's credit); below zero, ``tokens`` are owed to reserved admissions.
The in-memory state and the Redis script (``lua/acquire.lua``) implement exactly these rules.
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
