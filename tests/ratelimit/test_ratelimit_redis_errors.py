"""Redis failures the review found (2026-11-30): error replies, requests held up in the network, a Redis lost
between a call and its breaker's bookkeeping. Each test makes the move and asserts it fails closed or is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llmteam.ratelimit import (
    RateLimitBackendError,
    RateLimitConfig,
    RateLimitedExecutor,
    RateLimiter,
    RateLimitStrategy,
    RedisRateLimitBackend,
)

from ._redis_hops import FailingRedis

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
