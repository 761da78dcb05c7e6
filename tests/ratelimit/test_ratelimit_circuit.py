from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import pytest

from llmteam.ratelimit import CircuitBreaker, CircuitBreakerConfig, CircuitOpenError, CircuitState

from .._support.fake_clock import FakeClock


def breaker(clock: FakeClock, **kw: object) -> CircuitBreaker:
    base: dict[str, object] = dict(
        failure_threshold=3,
        open_timeout=timedelta(seconds=10),
        success_threshold=2,
        half_open_max_requests=2,
        sample_size=100,
    )
    base.update(kw)
    return CircuitBreaker("svc", CircuitBreakerConfig(**base), clock=clock)  # type: ignore[arg-type]


async def test_consecutive_failures_open_and_success_resets_streak() -> None:
    clock = FakeClock(100.0)
    b = breaker(clock)
    assert b.is_closed and await b.allow_request() and b.get_retry_after() is None
    for outcome in "FFSFF":
        await (b.record_failure() if outcome == "F" else b.record_success())
    assert b.state is CircuitState.CLOSED
    await b.record_failure()
    assert b.is_open and b.get_stats().state_changes == 1


async def test_open_refuses_with_retry_after_then_half_open_probe() -> None:
    clock = FakeClock(100.0)
    b = breaker(clock)
    await b.force_open()
    clock.now += 4
    with pytest.raises(CircuitOpenError) as info:
        await b.allow_request()
    assert info.value.retry_after == pytest.approx(6.0) and b.get_retry_after() == pytest.approx(6.0)
    clock.now += 6
    assert await b.allow_request() is True  # the first probe
    assert b.is_half_open and b.get_state_duration() == 0.0
    assert await b.allow_request() is True
    with pytest.raises(CircuitOpenError):
        await b.allow_request()  # two probes outstanding
    await b.record_success()
    assert b.is_half_open
    await b.record_success()
    assert b.is_closed
    s = b.get_stats()
    assert s.rejected_requests == 2 and s.time_in_open == pytest.approx(10.0) and s.state_changes == 3


async def test_half_open_failure_reopens_and_restarts_timer() -> None:
    clock = FakeClock(100.0)
    b = breaker(clock)
    await b.force_open()
    clock.now += 10
    await b.allow_request()
    clock.now += 1
    await b.record_failure()
    assert b.is_open and b.get_retry_after() == pytest.approx(10.0)


async def test_half_open_cannot_stick_when_probes_never_report() -> None:
    clock = FakeClock(100.0)
    b = breaker(clock)
    await b.force_open()
    clock.now += 10
    assert await b.allow_request() and await b.allow_request()
    with pytest.raises(CircuitOpenError):
        await b.allow_request()
    clock.now += 10  # the silent probes expire after open_timeout
    assert await b.allow_request() is True


async def test_failure_rate_rule_over_rolling_window() -> None:
    clock = FakeClock(100.0)
    b = breaker(clock, failure_threshold=100, sample_size=10, failure_rate_threshold=0.5)
    for i in range(10):  # alternate S/F: never 2 failures in a row, rate reaches 50% at 10 results
        assert b.is_closed
        await (b.record_success() if i % 2 == 0 else b.record_failure())
        clock.now += 1
    assert b.is_open


async def test_old_results_leave_the_rate_window() -> None:
    clock = FakeClock(100.0)
    b = breaker(clock, failure_threshold=100, sample_size=4, failure_rate_threshold=0.5)
    await b.record_failure()
    await b.record_success()
    await b.record_failure()
    clock.now += 61  # those three are older than 60 s now
    await b.record_success()
    await b.record_success()
    await b.record_success()
    await b.record_failure()
    assert b.is_closed  # 1 failure in 4 recent results


async def test_force_close_reset_and_stats() -> None:
    clock = FakeClock(100.0)
    b = breaker(clock)
    await b.force_open()
    assert b.is_open
    clock.now += 2
    assert b.get_stats().time_in_open == pytest.approx(2.0)
    await b.force_close()
    assert b.is_closed
    await b.record_failure()
    await b.reset()
    s = b.get_stats()
    assert s.failed_requests == 1 and s.last_failure_time is not None and s.failure_rate == 1.0
    b.reset_stats()
    assert b.get_stats().failed_requests == 0 and "svc" in repr(b)
    with pytest.raises(ValueError):
        CircuitBreaker("", CircuitBreakerConfig())


def in_context(ctx: contextvars.Context, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run ``coro`` as a task in context ``ctx``: one context per simulated caller, kept across its calls."""
    return asyncio.get_running_loop().create_task(coro, context=ctx)


async def test_stale_successes_cannot_close_a_half_open_breaker() -> None:
    """Calls admitted while CLOSED report success after the breaker went half-open: only the probe decides."""
    clock = FakeClock(100.0)
    b = breaker(clock, failure_threshold=1, success_threshold=2, half_open_max_requests=1)
    stale = [contextvars.Context() for _ in range(2)]
    for ctx in stale:  # two calls are admitted while CLOSED
        await in_context(ctx, b.allow_request())  # type: ignore[arg-type]
    await b.record_failure()  # another call fails: the breaker opens
    clock.now += 10
    probe = contextvars.Context()
    await in_context(probe, b.allow_request())  # type: ignore[arg-type]
    assert b.is_half_open  # one probe outstanding, it has not reported
    for ctx in stale:  # the attacker's move: the stale calls report success
        await in_context(ctx, b.record_success())
    assert b.is_half_open, "stale successes closed the breaker before its probe reported"
    with pytest.raises(CircuitOpenError):
        await b.allow_request()  # the probe slot is still taken
    for ctx in stale:
        await in_context(ctx, b.record_failure())  # nor do stale failures decide
    assert b.is_half_open
    await in_context(probe, b.record_success())
    await in_context(probe, b.record_success())
    assert b.is_closed


async def test_a_result_from_a_task_without_an_admission_still_counts() -> None:
    """Probes admitted in child tasks, results recorded by the parent (no admission of its own): as before."""
    clock = FakeClock(100.0)
    b = breaker(clock, failure_threshold=1, success_threshold=2, half_open_max_requests=2)
    await in_context(contextvars.Context(), b.record_failure())
    clock.now += 10
    await asyncio.gather(b.allow_request(), b.allow_request())  # each in a task (and context) of its own
    assert b.is_half_open
    parent = contextvars.Context()
    await in_context(parent, b.record_success())
    await in_context(parent, b.record_success())
    assert b.is_closed
