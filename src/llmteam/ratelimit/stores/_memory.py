"""In-process limiter state: the contract §6.2 admission model in plain Python, O(1) memory per limit."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from .._backend import Clock, Decision, LimiterState, RateLimitBackend
from .._names import NameCache
from .._window import HOUR_GEOMETRY, MINUTE_GEOMETRY, BucketWindow

if TYPE_CHECKING:
    from .._circuit_core import CircuitStore, MemoryCircuitStore
    from .._config import CircuitBreakerConfig, RateLimitConfig


class MemoryLimiterState(LimiterState):
    """Token bucket + minute/hour bucket windows + held-permit count for one limit in this process."""

    __slots__ = ("capacity", "clock", "held", "hour", "last", "minute", "rate", "rph", "rpm", "tokens")

    def __init__(self, config: RateLimitConfig, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or time.monotonic
        self.rate = float(config.requests_per_second)
        self.capacity = float(config.burst_size)
        self.rpm = float(config.requests_per_minute)
        self.rph = float(config.requests_per_hour)
        self.tokens = self.capacity  # starts full
        self.last = self.clock()
        self.held = 0
        self.minute = BucketWindow(*MINUTE_GEOMETRY)
        self.hour = BucketWindow(*HOUR_GEOMETRY)

    def _refill(self, now: float) -> None:
        if now > self.last:
            tokens = self.tokens + (now - self.last) * self.rate
            self.tokens = tokens if tokens < self.capacity else self.capacity
            self.last = now

    def try_admit(self, now: float) -> bool:
        """Admit one request at ``now`` if rules (a)-(c) all hold: the allocation-free hot path."""
        if now > self.last:
            tokens = self.tokens + (now - self.last) * self.rate
            self.tokens = tokens if tokens < self.capacity else self.capacity
            self.last = now
        if self.tokens < 1.0 or self.held >= self.capacity:
            return False
        minute, hour = self.minute, self.hour
        mb = int(now * minute.scale)
        if mb > minute.last:
            minute.advance(mb)
        hb = int(now * hour.scale)
        if hb > hour.last:
            hour.advance(hb)
        if minute.total >= self.rpm or hour.total >= self.rph:
            return False
        self.tokens -= 1.0
        self.held += 1
        minute.counts[minute.last % minute.size] += 1
        minute.total += 1
        hour.counts[hour.last % hour.size] += 1
        hour.total += 1
        return True

    def wait_estimate(self, now: float) -> float | None:
        """Seconds until rules (a) and (b) allow an admission; None if only a release can; inf if never."""
        if self.capacity < 1.0:
            return math.inf
        self._refill(now)
        self.minute.advance(self.minute.bucket(now))
        self.hour.advance(self.hour.bucket(now))
        token_wait = max(0.0, (1.0 - self.tokens) / self.rate)
        wait = max(
            token_wait,
            self.minute.time_until_below(self.rpm, now),
            self.hour.time_until_below(self.rph, now),
        )
        if wait <= 0.0 and self.held >= self.capacity:
            return None
        return wait

    async def decide(self, permit_id: str) -> Decision:
        now = self.clock()
        if self.try_admit(now):
            return Decision(True, 0.0, self.tokens)
        return Decision(False, self.wait_estimate(now), self.tokens)

    def release(self, permit_id: str = "") -> None:
        if self.held > 0:
            self.held -= 1

    def last_known(self) -> tuple[float, bool]:
        now = self.clock()
        self._refill(now)
        return self.tokens, self.wait_estimate(now) != 0.0

    def available(self, now: float) -> float:
        """Tokens in the bucket at ``now``."""
        self._refill(now)
        return self.tokens

    def is_fresh(self) -> bool:
        """True when this state decides exactly like a new one: no permit held, bucket full, both windows empty."""
        if self.held:
            return False
        now = self.clock()
        self._refill(now)
        self.minute.advance(self.minute.bucket(now))
        self.hour.advance(self.hour.bucket(now))
        return self.tokens >= self.capacity and self.minute.total == 0 and self.hour.total == 0


class MemoryRateLimitBackend(RateLimitBackend):
    """Keeps state in this process. Limiters given the same instance and name share one limit.

    State per name is bounded: beyond ``max_states`` names, states that decide exactly like new ones (no permit
    held, bucket full, windows empty; a breaker closed with no recent results) are evicted, least recently used
    first. A state still in use by a live limiter or breaker is shared, never replaced, and state that still
    remembers something (a held permit, an admission inside the trailing hour) is never evicted: eviction cannot
    change a decision. Memory is therefore bounded by ``max_states`` plus the names active in the trailing hour.
    """

    def __init__(self, *, max_states: int = 10_000) -> None:
        if isinstance(max_states, bool) or not isinstance(max_states, int) or max_states < 1:
            raise ValueError(f"MemoryRateLimitBackend max_states={max_states!r} must be an int >= 1")
        self.circuit_clock: Clock = time.monotonic
        self._limiters: NameCache[MemoryLimiterState] = NameCache(max_states)
        self._circuits: NameCache[MemoryCircuitStore] = NameCache(max_states)

    def limiter_state(self, name: str, config: RateLimitConfig, clock: Clock | None) -> MemoryLimiterState:
        return self._limiters.get(name, lambda: MemoryLimiterState(config, clock))

    def circuit_store(self, name: str, config: CircuitBreakerConfig) -> CircuitStore:
        from .._circuit_core import MemoryCircuitStore

        return self._circuits.get(name, MemoryCircuitStore)

    def state_counts(self) -> tuple[int, int]:
        """``(limiter states, breaker states)`` this backend keeps (live ones included)."""
        return len(self._limiters), len(self._circuits)
