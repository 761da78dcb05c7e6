"""Configuration of limiters and breakers (contract §6.1), validated at construction."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any


class RateLimitStrategy(Enum):
    """What ``RateLimiter.acquire`` does when a request is not admissible right now."""

    WAIT = "wait"
    REJECT = "reject"
    QUEUE = "queue"
    FALLBACK = "fallback"


class CircuitState(Enum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def _number(owner: str, name: str, value: Any, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name}={value!r} must be a finite number")
    if positive and value <= 0:
        raise ValueError(f"{owner}.{name}={value!r} must be > 0")
    if not positive and value < 0:
        raise ValueError(f"{owner}.{name}={value!r} must be >= 0")


def _integer(owner: str, name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}.{name}={value!r} must be an int")
    if value < minimum:
        raise ValueError(f"{owner}.{name}={value!r} must be >= {minimum}")


@dataclass
class RateLimitConfig:
    """Limits of one endpoint: token bucket + minute/hour windows + held permits, and what to do when limited."""

    requests_per_second: float = 10.0
    requests_per_minute: float = 100.0
    requests_per_hour: float = 1000.0
    burst_size: int = 10
    strategy: RateLimitStrategy = RateLimitStrategy.WAIT
    max_wait_seconds: float = 30.0
    queue_size: int = 100
    retry_count: int = 3
    retry_base_delay: float = 1.0
    retry_max_delay: float = 60.0
    retry_exponential: bool = True
    fallback_handler: Callable[..., Any] | None = None
    fallback_value: Any = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field and value (also call after mutating a config)."""
        owner = "RateLimitConfig"
        for name in ("requests_per_second", "requests_per_minute", "requests_per_hour"):
            _number(owner, name, getattr(self, name), positive=True)
        for name in ("max_wait_seconds", "retry_base_delay", "retry_max_delay"):
            _number(owner, name, getattr(self, name), positive=False)
        # burst_size=0 is allowed: the contract defines it as "nothing is ever admissible".
        for name in ("burst_size", "queue_size", "retry_count"):
            _integer(owner, name, getattr(self, name), minimum=0)
        if not isinstance(self.strategy, RateLimitStrategy):
            try:
                self.strategy = RateLimitStrategy(self.strategy)
            except ValueError:
                allowed = ", ".join(s.value for s in RateLimitStrategy)
                raise ValueError(f"{owner}.strategy={self.strategy!r} must be one of {allowed}") from None
        if self.fallback_handler is not None and not callable(self.fallback_handler):
            raise ValueError(f"{owner}.fallback_handler={self.fallback_handler!r} must be callable or None")

    def get_min_interval(self) -> float:
        """The steady-state interval between admissions: ``1 / requests_per_second``."""
        return 1.0 / self.requests_per_second

    def get_retry_delay(self, attempt: int) -> float:
        """Backoff before retry ``attempt`` (0-based): exponential from ``retry_base_delay``, capped."""
        if self.retry_exponential:
            try:
                delay = self.retry_base_delay * 2.0**attempt
            except OverflowError:
                delay = math.inf
            return min(delay, self.retry_max_delay)
        return min(self.retry_base_delay, self.retry_max_delay)


@dataclass
class CircuitBreakerConfig:
    """When a breaker opens (consecutive failures or failure rate), how long it stays open and how it probes."""

    failure_threshold: int = 5
    failure_rate_threshold: float = 0.5
    sample_size: int = 10
    open_timeout: timedelta = field(default_factory=lambda: timedelta(seconds=30))
    half_open_max_requests: int = 3
    success_threshold: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field and value."""
        owner = "CircuitBreakerConfig"
        for name in ("failure_threshold", "sample_size", "half_open_max_requests", "success_threshold"):
            _integer(owner, name, getattr(self, name), minimum=1)
        rate = self.failure_rate_threshold
        _number(owner, "failure_rate_threshold", rate, positive=True)
        if rate > 1:
            raise ValueError(f"{owner}.failure_rate_threshold={rate!r} must be in (0, 1]")
        if isinstance(self.open_timeout, (int, float)) and not isinstance(self.open_timeout, bool):
            _number(owner, "open_timeout", self.open_timeout, positive=False)
            self.open_timeout = timedelta(seconds=self.open_timeout)
        if not isinstance(self.open_timeout, timedelta) or self.open_timeout < timedelta(0):
            raise ValueError(f"{owner}.open_timeout={self.open_timeout!r} must be a non-negative timedelta")

    def should_open(self, failures: int, total: int) -> bool:
        """True on ``failure_threshold`` failures, or on ``sample_size`` results at the failure-rate threshold."""
        if failures >= self.failure_threshold:
            return True
        return total >= self.sample_size and total > 0 and failures / total >= self.failure_rate_threshold
