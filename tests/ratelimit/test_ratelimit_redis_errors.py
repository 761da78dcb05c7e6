"""Redis failures the review found (2026-11-30): error replies, requests held up in the network, a Redis lost
between a call and its breaker's bookkeeping. Each test makes the move and asserts it fails closed or is bounded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from llmteam.ratelimit import (
    CircuitBreakerConfig,
    RateLimitBackendError,
    RateLimitConfig,
    RateLimitedExecutor,
    RateLimiter,
    RateLimitStrategy,
    RedisRateLimitBackend,
)

from ._redis_hops import FailingRedis, Proxy

pytestmark = pytest.mark.redis


@pytest.fixture
async def readonly_url() -> AsyncIterator[tuple[FailingRedis, str]]:
    server = FailingRedis(b"READONLY You can't write against a read only replica.")
    url = await server.start()
    yield server, url
    server.close()


async def test_an_error_reply_is_a_backend_error_naming_it_and_the_permit_is_released(
    readonly_url: tuple[FailingRedis, str],
) -> None:
    server, url = readonly_url  # a Redis that is failing over: every write gets -READONLY
    b = RedisRateLimitBackend(url, prefix="t")
    lim = RateLimiter("llm", RateLimitConfig(strategy=RateLimitStrategy.REJECT), backend=b)
    with pytest.raises(RateLimitBackendError, match="READONLY") as info:  # was a bare redis ReadOnlyError
        await lim.acquire()
    assert "127.0.0.1" in str(info.value) and lim.held_permits == 0
    first = f"{lim._permit_prefix}:1".encode()
    with pytest.raises(RateLimitBackendError):
        await lim.acquire()
    # The first decision may have run on the server before it failed: its permit's release travels with the next.
    later = [words for words in server.commands if words[0].upper() == b"EVALSHA"][1:]
    assert any(first in words for words in later)
    ex = RateLimitedExecutor(RateLimitConfig(retry_count=0), backend=b)
    result = await ex.execute("llm", lambda: "called")  # raised ReadOnlyError out of execute before
    assert not result.success and result.rate_limited and isinstance(result.error, RateLimitBackendError)
    await b.aclose()


async def test_a_result_survives_losing_redis_after_the_call_and_the_next_call_is_refused_not_raised(
    proxy_url: tuple[Proxy, str],
) -> None:
    proxy, url = proxy_url
    b = RedisRateLimitBackend(url, prefix=f"test_{uuid.uuid4().hex[:12]}", connect_timeout=0.5, command_timeout=1.0)
    ex = RateLimitedExecutor(RateLimitConfig(retry_count=0), backend=b)
    ex.register("payments", circuit_config=CircuitBreakerConfig())
    charged: list[str] = []

    async def charge_card() -> str:
        charged.append("$100")  # the side effect happens...
        await proxy.cut()  # ...and Redis becomes unreachable before the breaker records the success
        return "charge-id-42"

    result = await ex.execute("payments", charge_card)  # raised RateLimitBackendError before: the id was lost
    assert result.success and result.value == "charge-id-42" and charged == ["$100"]
    again = await ex.execute("payments", charge_card)  # the breaker cannot be asked: refused, never raised
    assert not again.success and again.circuit_open and isinstance(again.error, RateLimitBackendError)
    assert charged == ["$100"]
    await b.aclose()


async def test_a_failure_survives_losing_redis_before_the_breaker_records_it(proxy_url: tuple[Proxy, str]) -> None:
    proxy, url = proxy_url
    b = RedisRateLimitBackend(url, prefix=f"test_{uuid.uuid4().hex[:12]}", connect_timeout=0.5, command_timeout=1.0)
    ex = RateLimitedExecutor(RateLimitConfig(retry_count=0), backend=b)
    ex.register("payments", circuit_config=CircuitBreakerConfig())

    async def declined() -> str:
        await proxy.cut()
        raise LookupError("card declined")

    result = await ex.execute("payments", declined)
    assert not result.success and isinstance(result.error, LookupError) and not result.circuit_open
    await b.aclose()


async def test_thousands_of_releases_queued_in_an_outage_do_not_wedge_the_limit(redis_url: str) -> None:
    # Found while fixing finding 3: the script passed every queued release to one unpack(), which Redis's Lua
    # refuses beyond ~8000 values, so after a long outage every decision failed, and requeued them all again.
    b = RedisRateLimitBackend(redis_url, prefix=f"test_{uuid.uuid4().hex[:12]}")
    lim = RateLimiter("x", RateLimitConfig(strategy=RateLimitStrategy.REJECT), backend=b)
    lim._state._pending.extend(f"lost:{i}" for i in range(9000))  # type: ignore[attr-defined]
    assert await lim.acquire()
    lim.release()
    await b.aclose()
