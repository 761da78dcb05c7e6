from __future__ import annotations

import asyncio
import math
import time

import pytest

from llmteam.ratelimit import (
    QueueFullError,
    RateLimitConfig,
    RateLimiter,
    RateLimitExceeded,
    RateLimitStrategy,
)
from llmteam.ratelimit.stores._memory import MemoryLimiterState

from .._support.fake_clock import FakeClock

REJECT, WAIT, QUEUE, FALLBACK = (
    RateLimitStrategy.REJECT,
    RateLimitStrategy.WAIT,
    RateLimitStrategy.QUEUE,
    RateLimitStrategy.FALLBACK,
)




def test_construction_needs_no_loop_and_checks_arguments() -> None:
    lim = RateLimiter("x", RateLimitConfig())
    assert lim.available_tokens == pytest.approx(10.0) and not lim.is_limited
    with pytest.raises(ValueError, match="''"):
        RateLimiter("", RateLimitConfig())
    with pytest.raises(TypeError):
        RateLimiter("x", {"burst_size": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RateLimiter("x", RateLimitConfig(), backend=42)  # type: ignore[arg-type]


async def test_contract_example_reject_by_held_permits() -> None:
    lim = RateLimiter("x", RateLimitConfig(burst_size=2, strategy=REJECT, requests_per_second=100))
    assert await lim.acquire() is True
    assert await lim.acquire() is True
    with pytest.raises(RateLimitExceeded) as info:
        await lim.acquire()
    assert info.value.name == "x" and info.value.retry_after and info.value.retry_after > 0
    s = lim.get_stats()
    assert (s.total_requests, s.successful_requests, s.rejected_requests) == (3, 2, 1)
    assert s.rejection_rate == pytest.approx(1 / 3)


async def test_default_wait_admits_burst_then_paces() -> None:
    clock = FakeClock(50.0)
    lim = RateLimiter("x", RateLimitConfig(strategy=FALLBACK), clock=clock)
    admitted = 0
    for _ in range(30):
        if await lim.acquire():
            admitted += 1
            lim.release()
    assert admitted == 10  # the burst, at one instant
    for _ in range(200):  # 20 s at 10 ms steps: ~10/s, and never more than 100 in the minute
        clock.now += 0.1
        if await lim.acquire():
            admitted += 1
            lim.release()
    assert admitted == 100  # 10 + 20 s * 10/s = 210 would exceed the minute limit of 100


async def test_wait_paces_in_real_time_and_records_wait() -> None:
    lim = RateLimiter("x", RateLimitConfig(requests_per_second=100.0, burst_size=3, strategy=WAIT))
    start = time.monotonic()
    for _ in range(8):
        async with lim:
            pass
    assert time.monotonic() - start >= 0.045  # 5 paced admissions at 10 ms
    s = lim.get_stats()
    assert s.successful_requests == 8 and s.total_wait_time > 0 and s.average_wait_time > 0


async def test_waiters_are_served_fifo() -> None:
    lim = RateLimiter("x", RateLimitConfig(requests_per_second=200.0, burst_size=1, strategy=WAIT))
    order: list[int] = []

    async def worker(i: int) -> None:
        async with lim:
            order.append(i)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(i) for i in range(12)))
    assert order == list(range(12))


async def test_wait_refuses_at_once_when_the_wait_exceeds_max_wait_or_is_impossible() -> None:
    lim = RateLimiter("x", RateLimitConfig(requests_per_second=0.01, burst_size=1, max_wait_seconds=80.0))
    assert await lim.acquire()
    lim.release()
    start = time.monotonic()
    with pytest.raises(RateLimitExceeded) as info:
        await lim.acquire()
    # refused at once: waiting would have taken max_wait_seconds (80 s) before refusing (the margin absorbs load)
    assert time.monotonic() - start < 40 and info.value.retry_after == pytest.approx(100.0, abs=0.1)
    never = RateLimiter("n", RateLimitConfig(burst_size=0))
    with pytest.raises(RateLimitExceeded) as info:
        await never.acquire()
    assert info.value.retry_after == math.inf


async def test_wait_blocked_by_held_permit_times_out_and_is_woken_by_release() -> None:
    lim = RateLimiter("x", RateLimitConfig(requests_per_second=100.0, burst_size=1, max_wait_seconds=0.1))
    assert await lim.acquire()
    start = time.monotonic()
    with pytest.raises(RateLimitExceeded):
        await lim.acquire()
    assert 0.09 <= time.monotonic() - start
    lim2 = RateLimiter("y", RateLimitConfig(requests_per_second=100.0, burst_size=1, max_wait_seconds=60))
    assert await lim2.acquire()
    waiter = asyncio.create_task(lim2.acquire())
    await asyncio.sleep(0.02)
    start = time.monotonic()
    lim2.release()
    assert await waiter is True
    assert time.monotonic() - start < 30  # woken by the release, long before max_wait_seconds (60 s)
    assert lim2.get_stats().current_queue_size == 0


async def test_queue_strategy_bounds_waiters() -> None:
    lim = RateLimiter("q", RateLimitConfig(requests_per_second=100.0, burst_size=1, strategy=QUEUE, queue_size=1))
    assert await lim.acquire()
    first = asyncio.create_task(lim.acquire())
    await asyncio.sleep(0.01)
    assert lim.get_stats().current_queue_size == 1 and lim.is_limited
    with pytest.raises(QueueFullError) as info:
        await lim.acquire()
    assert info.value.queue_size == 1 and info.value.name == "q" and (info.value.retry_after or 0) > 0
    lim.release()
    assert await first
    s = lim.get_stats()
    assert s.queued_requests == 1 and s.rejected_requests == 1 and s.current_queue_size == 0


async def test_cancelled_waiter_leaves_the_line() -> None:
    lim = RateLimiter("c", RateLimitConfig(requests_per_second=100.0, burst_size=1))
    assert await lim.acquire()
    a = asyncio.create_task(lim.acquire())
    b = asyncio.create_task(lim.acquire())
    await asyncio.sleep(0.01)
    a.cancel()
    await asyncio.sleep(0)
    lim.release()
    assert await b is True
    assert lim.get_stats().current_queue_size == 0 and lim.held_permits == 1


async def test_fallback_returns_false_holding_nothing_and_context_manager_refuses() -> None:
    clock = FakeClock(50.0)
    lim = RateLimiter("f", RateLimitConfig(burst_size=1, strategy=FALLBACK, requests_per_second=100), clock=clock)
    assert await lim.acquire() is True
    clock.now += 1
    assert await lim.acquire() is False
    assert lim.held_permits == 1 and lim.get_stats().rejected_requests == 0
    lim.release()
    async with lim:
        assert lim.held_permits == 1
        with pytest.raises(RateLimitExceeded):
            async with lim:
                pass
        assert lim.held_permits == 1
    assert lim.held_permits == 0


async def test_reset_stats_and_available_tokens() -> None:
    clock = FakeClock(50.0)
    lim = RateLimiter("s", RateLimitConfig(burst_size=4, requests_per_second=2.0), clock=clock)
    for _ in range(2):
        await lim.acquire()
    assert lim.available_tokens == pytest.approx(2.0)
    clock.now += 0.5
    assert lim.available_tokens == pytest.approx(3.0)
    lim.reset_stats()
    assert lim.get_stats().total_requests == 0 and lim.held_permits == 2
    assert "s" in repr(lim)


async def test_memory_is_bounded_by_configuration_not_traffic() -> None:
    clock = FakeClock(50.0)
    lim = RateLimiter(
        "m",
        RateLimitConfig(requests_per_second=1e6, requests_per_minute=1e7, requests_per_hour=1e9, burst_size=100),
        clock=clock,
    )
    state = lim._state
    assert isinstance(state, MemoryLimiterState)
    assert state.minute is not None and state.hour is not None  # both windows can bind: both are tracked
    for _ in range(20_000):  # 100 s of traffic: more than the minute ring spans
        clock.now += 0.005
        assert await lim.acquire()
        lim.release()
        assert len(state.minute.counts) <= state.minute.size and len(state.hour.counts) <= state.hour.size
    assert state.minute.total <= 20_000 and state.hour.total == 20_000


# --- waiters ask for their token half an interval early and proceed when it is due (_bucket.py) ---------------

EARLY = RateLimitConfig(
    requests_per_second=10.0, requests_per_minute=1e9, requests_per_hour=1e9, burst_size=1, strategy=WAIT
)


async def _admitted_early(lim: RateLimiter) -> asyncio.Task[bool] | None:
    """Take the bucket's token, then start a waiter for the next one. Returns that waiter once it holds the
    permit it was admitted for ahead of its token (and still waits for the token), or None if it went through
    at once (a stalled loop woke it after its token: not the case under test)."""
    assert await lim.acquire()
    lim.release()
    task = asyncio.get_running_loop().create_task(lim.acquire())
    while lim.held_permits == 0:  # it sleeps, then asks 50 ms before its token and is admitted for it
        await asyncio.sleep(0.002)
    if task.done():
        assert task.result()
        lim.release()
        await asyncio.sleep(0.2)  # a full bucket again
        return None
    return task


async def test_a_waiter_admitted_early_for_its_token_proceeds_only_when_it_is_due() -> None:
    lim = RateLimiter("early", EARLY)
    for _ in range(20):
        start = time.monotonic()  # the next token is due no earlier than 0.1 s after this
        task = await _admitted_early(lim)
        if task is not None:
            assert await task
            assert time.monotonic() - start >= 0.1 - 1e-6, "let through before its token was due"
            return
    pytest.fail("no waiter was ever admitted ahead of its token in 20 tries")


async def test_a_waiter_cancelled_before_its_reserved_token_gives_its_permit_back() -> None:
    lim = RateLimiter("cancel", EARLY)
    for _ in range(20):
        task = await _admitted_early(lim)
        if task is not None:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert lim.held_permits == 0 and lim._local is not None and lim._local.held == 0
            return
    pytest.fail("no waiter was ever admitted ahead of its token in 20 tries")
