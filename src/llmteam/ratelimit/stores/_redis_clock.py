"""Where the Redis server's clock stands against this process's ``time.monotonic()``: when a reply was decided.

A decision says, in the server's clock, when the next token is due. To send the next attempt at that instant the
limiter needs the local time at which the server decided. A round trip alone only says "between sending and
receiving": guessing the middle puts the guess up to half a round trip off, and a round trip whose request was
held up (the server not yet scheduled, a busy loop) puts it early, so the next attempt arrives before its token
and costs a refusal and another round trip.

Each reply instead carries the server's ``TIME`` at its decision, ``T``. It was decided between ``sent`` and
``received``, so the offset ``theta = server - local`` is at least ``T - received``; the greatest of these lower
bounds over recent replies is the tightest (NTP's reasoning, one-sided). Mapping ``T`` to ``T - lower`` gives the
*latest* local time the decision can have happened at: a wait counted from there never ends before the server's
instant, so the next attempt leaves no earlier than its token is due (it arrives one-way latency late, which the
late-waiter credit keeps), and the guess is off by at most the fastest recent reply's return leg.

The bound is kept over the last one to two seconds (two epochs), so clock drift and a server clock stepped
forward are followed at once and one stepped back within two seconds; the local time is always clamped into
``[sent, received]``, so a wrong bound can never move an answer outside its own round trip.
"""

from __future__ import annotations

import math

_EPOCH = 1.0  # seconds of replies per epoch; the bound uses the current and the previous epoch


class ServerClock:
    """The running lower bound of ``server time - local time`` from the replies of one Redis server."""

    __slots__ = ("_current", "_epoch_end", "_previous")

    def __init__(self) -> None:
        self._current = -math.inf  # greatest lower bound seen in this epoch
        self._previous = -math.inf  # ... in the epoch before (-inf when that epoch saw no reply)
        self._epoch_end = -math.inf

    def age(self, sent: float, received: float, server_time: float) -> float:
        """Seconds (local, at ``received``) since the server decided at ``server_time`` (its clock), for a reply
        to a request sent at ``sent`` and received at ``received`` (``time.monotonic()``): within
        ``[0, received - sent]``, the smallest age consistent with the recent replies."""
        if received >= self._epoch_end:
            fresh = received < self._epoch_end + _EPOCH  # the epoch that ends now is the previous one
            self._previous = self._current if fresh else -math.inf
            self._current = -math.inf
            self._epoch_end = received + _EPOCH
        lower = server_time - received
        if lower > self._current:
            self._current = lower
        decided = server_time - max(self._current, self._previous)  # <= received: this reply's bound is included
        return received - max(sent, decided)
