"""Rate limiting and circuit breaking for calls to LLM providers and other endpoints (contract §6).

- :class:`RateLimiter` admits a request only when (a) a token bucket (capacity ``burst_size``, refilled at
  ``requests_per_second``, starting full) holds a token, (b) fewer than ``requests_per_minute`` /
  ``requests_per_hour`` admissions fall in the trailing 60 s / 3600 s, and (c) fewer than ``burst_size`` permits
  are held. Otherwise its :class:`RateLimitStrategy` decides: REJECT raises, WAIT and QUEUE wait in FIFO order
  (bounded by ``max_wait_seconds``; QUEUE also by ``queue_size``), FALLBACK returns False.
- :class:`CircuitBreaker` opens after ``failure_threshold`` consecutive failures or a failure rate over a
  rolling 60 s window, probes in HALF_OPEN after ``open_timeout``, and can never stick half-open.
- :class:`RateLimitedExecutor` runs sync or async callables per named endpoint under both, with retries.

State lives in a backend: private in-process state by default, or shared across processes through Redis::

    from llmteam.ratelimit import RateLimiter, RateLimitConfig, RedisRateLimitBackend

    shared = RedisRateLimitBackend("redis://127.0.0.1:6379/0", prefix="llmteam")
    limiter = RateLimiter("openai", RateLimitConfig(requests_per_second=5), backend=shared)
    async with limiter:
        ...  # at most 5/s (plus the initial burst) across every process using this name and Redis

Memory per limiter is fixed by its configuration (bucketed windows), never by traffic. Redis decisions are one
atomic Lua script each (one round trip); an unreachable Redis raises :class:`RateLimitBackendError` (fail
closed) unless the backend was built with ``fallback_to_local=True``.
"""

from ._backend import Decision, LimiterState, RateLimitBackend
from ._circuit import CircuitBreaker
from ._config import CircuitBreakerConfig, CircuitState, RateLimitConfig, RateLimitStrategy
from ._errors import (
    CircuitOpenError,
    QueueFullError,
    RateLimitBackendError,
    RateLimitConfigError,
    RateLimitError,
    RateLimitExceeded,
    TooManyEndpointsError,
)
from ._executor import EndpointStats, ExecutionResult, RateLimitedExecutor
from ._limiter import RateLimiter
from ._registry import backend_from_url
from ._stats import CircuitBreakerStats, RateLimiterStats
from .stores._memory import MemoryRateLimitBackend
from .stores._redis import RedisRateLimitBackend

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitBreakerStats",
    "CircuitOpenError",
    "CircuitState",
    "Decision",
    "EndpointStats",
    "ExecutionResult",
    "LimiterState",
    "MemoryRateLimitBackend",
    "QueueFullError",
    "RateLimitBackend",
    "RateLimitBackendError",
    "RateLimitConfig",
    "RateLimitConfigError",
    "RateLimitError",
    "RateLimitExceeded",
    "RateLimitStrategy",
    "RateLimitedExecutor",
    "RateLimiter",
    "RateLimiterStats",
    "RedisRateLimitBackend",
    "TooManyEndpointsError",
    "backend_from_url",
]
