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

**Slack windows.** The bucket alone admits at most ``burst_size + rate * (span + late_credit)`` in any ``span``;
when that is within a window's limit the window can never refuse anything, so it is not tracked at all.

A bucket stores ``tokens`` and ``stamp``: the time of its last refill, or, when full, the moment it became full
(so reading a full bucket never loses a waiter's credit). The in-memory state and the Redis script
(``lua/acquire.lua``) implement exactly these rules.
"""

from __future__ import annotations

MAX_LATE_CREDIT = 0.05  # seconds: above event-loop and round-trip lateness on a busy machine


def late_credit(rate: float) -> float:
    """Seconds a due waiter may be charged before its decision: ``min(0.5 / rate, MAX_LATE_CREDIT)``."""
    return min(0.5 / rate, MAX_LATE_CREDIT)


def window_binds(capacity: float, rate: float, span: float, limit: float) -> bool:
    """False when the bucket alone keeps every ``span``-second window below ``limit`` admissions."""
    return capacity + rate * (span + late_credit(rate)) > limit
