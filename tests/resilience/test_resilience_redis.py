"""Redis restarting under load: rate-limit and breaker calls fail with a clear error or succeed, never hang,
and the same backend recovers on its own once the server is back (no reopening)."""

from __future__ import annotations

import asyncio
from collections import Counter

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

from .conftest import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.integration, pytest.mark.timeout(600)]
HANG_GUARD = 60.0  # no single call may take longer: a hang guard, not a timing assertion


async def until(predicate: object, what: str) -> None:
    async with asyncio.timeout(HANG_GUARD):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


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
    seen: Counter[str] = Counter()
    stop = asyncio.Event()

    async def worker() -> None:
        while not stop.is_set():
            try:
                async with asyncio.timeout(HANG_GUARD):
                    await breaker.allow_request()
                    async with limiter:
                        await asyncio.sleep(0.001)
                    await breaker.record_success()
                seen["ok"] += 1
            except RateLimitBackendError as exc:
                assert "Redis at redis://127.0.0.1" in str(exc)  # names the server, says what happens
                seen["backend"] += 1
                await asyncio.sleep(0.01)
            except RateLimitExceeded:
                seen["limited"] += 1
                await asyncio.sleep(0.001)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    try:
        await until(lambda: seen["ok"] >= 50, "calls succeed before the restart")
        await asyncio.to_thread(redis_server.stop)
        await until(lambda: seen["backend"] >= 20, "calls fail clearly while Redis is down")
        await asyncio.to_thread(redis_server.start)
        ok_after_restart = seen["ok"]
        await until(lambda: seen["ok"] >= ok_after_restart + 50, "calls succeed again without reopening")
    finally:
        stop.set()
        await asyncio.gather(*workers)  # a worker that met an unexpected error or a hang re-raises it here
    assert limiter.held_permits == 0
    await backend.aclose()
