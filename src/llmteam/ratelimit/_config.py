"""Configuration of limiters and breakers (contract §6.1), validated at construction."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from llmteam._repr import bounded_repr

from ._errors import RateLimitConfigError


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


# Safe ranges: every value stays a finite float after arithmetic (no overflow, no inf interval), fits Redis's
# integer arguments, and converts to a timedelta.
MIN_RATE, MAX_RATE = 1e-6, 1e9  # requests per second: one per ~11.6 days .. a billion
MAX_WINDOW_LIMIT = 1e15  # requests per minute / hour (exact integers as doubles)
MAX_COUNT = 10**9  # burst, queue, retries, breaker counts and other integer settings
MAX_SECONDS = 1e9  # waits, delays and timeouts (~31 years)


def check_number(owner: str, name: str, value: Any, low: float, high: float, *, above: bool = False) -> None:
    """Raise :class:`RateLimitConfigError` unless ``value`` is a number in ``[low, high]`` (``above``: low excluded)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and (value > low if above else value >= low) and value <= high:  # NaN and inf fail here
        return
    interval = f"{'(' if above else '['}{low:g}, {high:g}]"
    raise RateLimitConfigError(f"{owner}.{name}={bounded_repr(value)} must be a finite number in {interval}")


def check_integer(owner: str, name: str, value: Any, low: int, high: int = MAX_COUNT) -> None:
    """Raise :class:`RateLimitConfigError` unless ``value`` is an int (not a bool) in ``[low, high]``."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return
    raise RateLimitConfigError(f"{owner}.{name}={bounded_repr(value)} must be an int in [{low}, {high:_}]")


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
        """Raise :class:`RateLimitConfigError` (a ``ValueError``) naming the first bad field, its value and the
        allowed range (also call after mutating a config)."""
        owner = "RateLimitConfig"
        check_number(owner, "requests_per_second", self.requests_per_second, MIN_RATE, MAX_RATE)
        for name in ("requests_per_minute", "requests_per_hour"):
            check_number(owner, name, getattr(self, name), 0.0, MAX_WINDOW_LIMIT, above=True)
        for name in ("max_wait_seconds", "retry_base_delay", "retry_max_delay"):
            check_number(owner, name, getattr(self, name), 0.0, MAX_SECONDS)
        # burst_size=0 is allowed: the contract defines it as "nothing is ever admissible".
        for name in ("burst_size", "queue_size", "retry_count"):
            check_integer(owner, name, getattr(self, name), 0)
        if not isinstance(self.strategy, RateLimitStrategy):
            try:
                self.strategy = RateLimitStrategy(self.strategy)
            except ValueError:
                allowed = ", ".join(s.value for s in RateLimitStrategy)
                raise RateLimitConfigError(
                    f"{owner}.strategy={bounded_repr(self.strategy)} must be one of {allowed}"
                ) from None
        if self.fallback_handler is not None and not callable(self.fallback_handler):
            raise RateLimitConfigError(
                f"{owner}.fallback_handler={bounded_repr(self.fallback_handler)} must be callable or None"
            )

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
        """Raise :class:`RateLimitConfigError` (a ``ValueError``) naming the first bad field, its value and the
        allowed range."""
        owner = "CircuitBreakerConfig"
        for name in ("failure_threshold", "sample_size", "half_open_max_requests", "success_threshold"):
            check_integer(owner, name, getattr(self, name), 1)
        check_number(owner, "failure_rate_threshold", self.failure_rate_threshold, 0.0, 1.0, above=True)
        timeout = self.open_timeout
        if isinstance(timeout, timedelta):
            check_number(owner, "open_timeout (seconds)", timeout.total_seconds(), 0.0, MAX_SECONDS)
        else:
            check_number(owner, "open_timeout (a timedelta or seconds)", timeout, 0.0, MAX_SECONDS)
            self.open_timeout = timedelta(seconds=timeout)

    def should_open(self, failures: int, total: int) -> bool:
        """True on ``failure_threshold`` failures, or on ``sample_size`` results at the failure-rate threshold."""
        if failures >= self.failure_threshold:
            return True
        return total >= self.sample_size and total > 0 and failures / total >= self.failure_rate_threshold
