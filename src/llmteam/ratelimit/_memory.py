"""In-process limiter state: the contract §6.2 admission model in plain Python, O(1) memory per limit."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from ._backend import Clock, Decision, LimiterState, RateLimitBackend
from ._window import HOUR_GEOMETRY, MINUTE_GEOMETRY, BucketWindow

if TYPE_CHECKING:
    from ._circuit_core import CircuitStore
    from ._config import CircuitBreakerConfig, RateLimitConfig


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


class MemoryRateLimitBackend(RateLimitBackend):
    """Keeps state in this process. Limiters given the same instance and name share one limit."""

    def __init__(self) -> None:
        self.circuit_clock: Clock = time.monotonic
        self._limiters: dict[str, MemoryLimiterState] = {}
        self._circuits: dict[str, CircuitStore] = {}

    def limiter_state(self, name: str, config: RateLimitConfig, clock: Clock | None) -> MemoryLimiterState:
        state = self._limiters.get(name)
        if state is None:
            state = self._limiters[name] = MemoryLimiterState(config, clock)
        return state

    def circuit_store(self, name: str, config: CircuitBreakerConfig) -> CircuitStore:
        from ._circuit_core import MemoryCircuitStore

        store = self._circuits.get(name)
        if store is None:
            store = self._circuits[name] = MemoryCircuitStore()
        return store
