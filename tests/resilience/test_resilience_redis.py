"""Redis restarting under load: rate-limit and breaker calls fail with a clear error or succeed, never hang,
and the same backend recovers on its own once the server is back (no reopening)."""

from __future__ import annotations

import asyncio

import pytest

from llmteam.ratelimit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    RateLimitBackendError,
    RateLimitConfig,
    RateLimiter,
    RateLimitExceeded,
    RateLimitStrategy,
    RedisRateLimitBackend,
)

from .conftest import RedisServer, restart_under_load

pytestmark = [pytest.mark.redis, pytest.mark.integration, pytest.mark.timeout(600)]


async def test_rate_limit_decisions_survive_a_redis_restart(redis_server: RedisServer) -> None:
    backend = RedisRateLimitBackend(redis_server.url, prefix="resilience", connect_timeout=1.0, command_timeout=2.0)
    config = RateLimitConfig(
        requests_per_second=2000.0,
        requests_per_minute=1e9,
        requests_per_hour=1e9,
        burst_size=20,
        strategy=RateLimitStrategy.REJECT,
    )
    limiter = RateLimiter("api", config, backend=backend)
    breaker = CircuitBreaker("api", CircuitBreakerConfig(failure_threshold=1000), backend=backend)

    async def call(worker: int, iteration: int) -> None:
        await breaker.allow_request()
        async with limiter:
            await asyncio.sleep(0.001)
        await breaker.record_success()

    errors = await restart_under_load(
        redis_server, call, expected=(RateLimitBackendError,), ignored=(RateLimitExceeded,), tasks=8, ok=50, failed=20
    )
    assert all(f"Redis at {redis_server.url}" in str(e) for e in errors), errors[:3]  # names the server
    assert limiter.held_permits == 0
    await backend.aclose()
