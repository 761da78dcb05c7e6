"""In-process limiter state: the contract §6.2 admission model in plain Python, O(1) memory per limit."""

from __future__ import annotations

import math
import time
import weakref
from functools import partial
from typing import TYPE_CHECKING

from .._backend import Clock, Decision, LimiterState, RateLimitBackend
from .._bucket import late_credit, reservation, window_binds
from .._config import check_integer
from .._names import NameCache
from .._window import HOUR_GEOMETRY, MINUTE_GEOMETRY, BucketWindow

if TYPE_CHECKING:
    from .._circuit_core import CircuitStore, MemoryCircuitStore
    from .._config import CircuitBreakerConfig, RateLimitConfig


class MemoryLimiterState(LimiterState):
    """Token bucket + minute/hour bucket windows + held-permit count for one limit in this process.

    The bucket follows ``_bucket.py``: ``stamp`` is the last refill time, or for a full bucket the moment it
    filled; a due waiter keeps up to ``late_credit`` seconds of refill a late wake-up would lose. A window the
    bucket can never exceed is not tracked (``minute``/``hour`` None).
    """

    __slots__ = ("capacity", "clock", "credit", "held", "hour", "minute", "rate", "reserve", "rph", "rpm", "stamp",
                 "tokens", "users")

    def __init__(self, config: RateLimitConfig, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or time.monotonic
        self.rate = float(config.requests_per_second)
        self.capacity = float(config.burst_size)
        self.rpm = float(config.requests_per_minute)
        self.rph = float(config.requests_per_hour)
        self.credit = late_credit(self.rate) * self.rate  # tokens a due waiter may keep beyond the capacity
        # tokens a due waiter may be short of its token (admitted for it, proceeding when it is due)
        self.reserve = reservation(self.capacity, self.rate, self.rpm, self.rph) * self.rate
        self.tokens = self.capacity  # starts full
        self.stamp = self.clock()
        self.held = 0
        self.users: weakref.WeakSet[object] = weakref.WeakSet()  # live limiters using this state (never evicted)
        binds = partial(window_binds, self.capacity, self.rate)
        self.minute = BucketWindow(*MINUTE_GEOMETRY) if binds(MINUTE_GEOMETRY[1], self.rpm) else None
        self.hour = BucketWindow(*HOUR_GEOMETRY) if binds(HOUR_GEOMETRY[1], self.rph) else None

    def _level(self, now: float) -> float:
        """Tokens at ``now`` before capping (pure: reading never changes the state)."""
        if now > self.stamp:
            return self.tokens + (now - self.stamp) * self.rate
        return self.tokens

    def _store(self, level: float, now: float) -> None:
        """Keep ``level`` tokens at ``now``; a full bucket keeps the moment it filled as its stamp."""
        capacity = self.capacity
        if level >= capacity:
            self.tokens = capacity
            self.stamp = now - (level - capacity) / self.rate
        else:
            self.tokens = level
            self.stamp = now

    def try_admit(self, now: float, due: bool = False) -> bool:
        """Admit one request at ``now`` if rules (a)-(c) all hold (``due``: a waiter woken for its token, or
        asking for it up to ``reserve`` tokens early; then ``tokens`` < 0 says how long it must wait)."""
        level = self._level(now)
        if due:
            limit, floor = self.capacity + self.credit, 1.0 - self.reserve
        else:
            limit, floor = self.capacity, 1.0
        available = level if level < limit else limit
        if available < floor or self.held >= self.capacity:
            if now > self.stamp:
                self._store(level, now)
            return False
        minute, hour = self.minute, self.hour
        if (minute is not None and minute.count_at(now) >= self.rpm) or (hour is not None
                                                                          and hour.count_at(now) >= self.rph):
            return False
        self._store(available - 1.0, now)
        self.held += 1
        if minute is not None:
            minute.add()
        if hour is not None:
            hour.add()
        return True

    def wait_estimate(self, now: float) -> float | None:
        """Seconds until rules (a) and (b) allow an admission; None if only a release can; inf if never."""
        if self.capacity < 1.0:
            return math.inf
        wait = max(0.0, (1.0 - min(self._level(now), self.capacity)) / self.rate)
        for window, limit in ((self.minute, self.rpm), (self.hour, self.rph)):
            if window is not None:
                window.count_at(now)
                wait = max(wait, window.time_until_below(limit, now))
        if wait <= 0.0 and self.held >= self.capacity:
            return None
        return wait

    def decide_now(self, due: bool = False) -> Decision:
        """One decision at ``clock()``, synchronously (the limiter's and the Redis fallback's in-process path)."""
        now = self.clock()
        if self.try_admit(now, due):
            tokens = self.tokens
            return Decision(True, -tokens / self.rate if tokens < 0.0 else 0.0, tokens)  # reserved: wait to proceed
        return Decision(False, self.wait_estimate(now), self.available(now))

    async def decide(self, permit_id: str, due: bool = False) -> Decision:
        return self.decide_now(due)

    def release(self, permit_id: str = "") -> None:
        if self.held > 0:
            self.held -= 1

    def last_known(self) -> tuple[float, bool]:
        now = self.clock()
        return self.available(now), self.wait_estimate(now) != 0.0

    def available(self, now: float) -> float:
        """Tokens in the bucket at ``now``."""
        return min(self._level(now), self.capacity)

    def is_fresh(self) -> bool:
        """True when this state decides exactly like a new one: no permit held, bucket full, both windows empty."""
        if self.held:
            return False
        now = self.clock()
        for window in (self.minute, self.hour):
            if window is not None and window.count_at(now):
                return False
        return self._level(now) >= self.capacity


class MemoryRateLimitBackend(RateLimitBackend):
    """Keeps state in this process. Limiters given the same instance, name and limits share one limit.

    State per name is bounded: beyond ``max_states`` names, states that decide exactly like new ones (no permit
    held, bucket full, windows empty; a breaker closed with no recent results) are evicted, least recently used
    first. A state still in use by a live limiter or breaker is shared, never replaced, and state that still
    remembers something (a held permit, an admission inside the trailing hour) is never evicted: eviction cannot
    change a decision. Memory is therefore bounded by ``max_states`` plus the names active in the trailing hour.
    """

    def __init__(self, *, max_states: int = 10_000) -> None:
        check_integer("MemoryRateLimitBackend", "max_states", max_states, 1)
        self.circuit_clock: Clock = time.monotonic
        # a limit is its name and its parameters: a config registered anew under a name gets its own state
        self._limiters: NameCache[tuple[str, float, int, float, float], MemoryLimiterState] = NameCache(max_states)
        self._circuits: NameCache[str, MemoryCircuitStore] = NameCache(max_states)

    def limiter_state(self, name: str, config: RateLimitConfig, clock: Clock | None) -> MemoryLimiterState:
        """The state of limit ``name`` under ``config``'s limits (rate, burst, minute and hour limits): limiters
        agreeing on both share it; one with other limits never decides by the old ones."""
        key = (name, float(config.requests_per_second), config.burst_size, float(config.requests_per_minute),
               float(config.requests_per_hour))
        return self._limiters.get(key, lambda: MemoryLimiterState(config, clock))

    def circuit_store(self, name: str, config: CircuitBreakerConfig) -> CircuitStore:
        from .._circuit_core import MemoryCircuitStore

        return self._circuits.get(name, MemoryCircuitStore)

    def state_counts(self) -> tuple[int, int]:
        """``(limiter states, breaker states)`` this backend keeps (live ones included)."""
        return len(self._limiters), len(self._circuits)
