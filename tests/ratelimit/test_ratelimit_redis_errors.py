"""Redis failures the review found (2026-11-30): error replies, requests held up in the network, a Redis lost
between a call and its breaker's bookkeeping. Each test makes the move and asserts it fails closed or is bounded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.ratelimit import (
    CircuitBreakerConfig,
    RateLimitBackendError,
    RateLimitConfig,
    RateLimitedExecutor,
    RateLimiter,
    RateLimitStrategy,
    RedisRateLimitBackend,
)

from .._support.fake_clock import FakeClock, ServerClockRedisBackend
from ._redis_hops import FailingRedis, Proxy
from ._redis_keys import held_on_server

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


async def test_a_decision_that_reaches_redis_after_its_release_takes_no_permit(
    proxy_url: tuple[Proxy, str], redis_client: Any
) -> None:
    # review 2026-11-30, finding 3: a decision timed out client-side (held up in the network), so its permit's
    # release was queued; the release reached Redis first, then the late decision added a permit nobody owned,
    # and with burst 1 every request was refused for the 600 s lease.
    proxy, url = proxy_url
    b = RedisRateLimitBackend(url, prefix=f"test_{uuid.uuid4().hex[:12]}", command_timeout=1.0)
    config = RateLimitConfig(requests_per_second=1e6, requests_per_minute=1e9, requests_per_hour=1e12,
                             burst_size=1, strategy=RateLimitStrategy.REJECT)  # only the held permit limits
    lim = RateLimiter("llm", config, backend=b)
    async with lim:  # connection 1 open, script loaded
        pass
    await asyncio.sleep(0)
    await asyncio.gather(*b.flushes)
    proxy.held, seen = 1, proxy.replies.get(1, 0)  # connection 1's next request is held up in the network
    with pytest.raises(RateLimitBackendError):  # timed out: fail closed, its permit's release queued
        await lim.acquire()
    async with lim:  # a new connection: this decision carries that release to Redis first
        pass
    await asyncio.sleep(0)
    await asyncio.gather(*b.flushes)
    proxy.let_go.set()  # now the held-up decision reaches Redis
    await proxy.replied(1, seen)
    assert await held_on_server(redis_client, b, "llm") == 0  # no permit nobody owns
    assert await lim.acquire()  # was refused: the one slot (burst 1) was held for the lease
    lim.release()
    await b.aclose()


QUICK = RateLimitConfig(requests_per_second=1e6, requests_per_minute=1e9, requests_per_hour=1e12, burst_size=2,
                        strategy=RateLimitStrategy.REJECT)  # a token every microsecond: only held permits limit

arrivals = st.permutations([(op, i) for i in range(3) for op in ("decide", "release")])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=arrivals)
def test_whatever_reaches_redis_first_no_permit_outlives_its_release(
    redis_url: str, order: list[tuple[str, int]]
) -> None:
    """Each permit's decision and release reach Redis once each, in any order: at most burst_size are ever held,
    and once both arrived none is left (a release arriving first makes its decision a refusal)."""

    async def scenario() -> None:
        b = RedisRateLimitBackend(redis_url, prefix=f"test_{uuid.uuid4().hex[:12]}")
        state = b.limiter_state("p", QUICK, None)
        held: set[int] = set()
        released: set[int] = set()
        client = redis_asyncio.from_url(redis_url)
        try:
            for op, i in order:
                if op == "release":
                    state.release(f"id:{i}")
                    await asyncio.sleep(0)
                    await asyncio.gather(*b.flushes)  # this release reaches Redis now, on its own
                    if i not in held and ("decide", i) in order[order.index((op, i)):]:  # its decision to come
                        assert 0 < await client.ttl(b.key("rl", "p", "released")) <= 3700  # kept for the lease
                    held.discard(i)
                    released.add(i)
                elif (await state.decide(f"id:{i}")).admitted:
                    assert i not in released, "a decision arriving after its release took a permit"
                    held.add(i)
                assert await held_on_server(client, b, "p") == len(held) <= 2
            assert not held
        finally:
            await client.aclose()
            await b.aclose()

    asyncio.run(scenario())


async def test_the_released_ids_kept_are_bounded(redis_url: str, redis_client: Any) -> None:
    b = RedisRateLimitBackend(redis_url, prefix=f"test_{uuid.uuid4().hex[:12]}")
    state = b.limiter_state("p", QUICK, None)
    for i in range(10_050):  # releases of permits never held (a flood of cancelled decisions)
        state.release(f"id:{i}")
    await asyncio.sleep(0)
    await asyncio.gather(*b.flushes)
    assert await redis_client.zcard(b.key("rl", "p", "released")) == 10_000  # the newest; each for the lease
    assert not (await state.decide("id:10049")).admitted and (await state.decide("id:0")).admitted
    await b.aclose()


async def test_a_release_recorded_by_a_sharer_with_a_shorter_lease_does_not_hide_an_earlier_one(
    redis_url: str, redis_client: Any
) -> None:
    # review 2026-11-29: `rx` (until when a decision must look in the released set) was overwritten by every record
    # with the recorder's own `now + lease`. A sharer with a shorter lease recording a release after a longer-lease
    # one moved it back, so the longer one's late decision skipped the set and took a permit nobody owns.
    clock, p = FakeClock(), f"test_{uuid.uuid4().hex[:12]}"
    long_lease = ServerClockRedisBackend(redis_url, clock, prefix=p, permit_lease_seconds=600)
    short_lease = ServerClockRedisBackend(redis_url, clock, prefix=p, permit_lease_seconds=0.5)
    one, other = long_lease.limiter_state("p", QUICK, None), short_lease.limiter_state("p", QUICK, None)
    try:
        for state, backend, permit in ((one, long_lease, "a:1"), (other, short_lease, "b:1")):
            state.release(permit)  # released while not held: its decision is still on its way
            await asyncio.sleep(0)
            await asyncio.gather(*backend.flushes)
            clock.advance(0.01)
        clock.advance(1.0)  # the short lease's record has ended; the long one's has 599 s to go
        assert not (await one.decide("a:1")).admitted, "a decision arriving after its release took a permit"
        assert await held_on_server(redis_client, long_lease, "p") == 0
    finally:
        await long_lease.aclose()
        await short_lease.aclose()
