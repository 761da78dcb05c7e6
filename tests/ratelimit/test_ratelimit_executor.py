from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.ratelimit import (
    CircuitBreakerConfig,
    CircuitOpenError,
    MemoryRateLimitBackend,
    RateLimitConfig,
    RateLimitedExecutor,
    RateLimitExceeded,
    RateLimitStrategy,
    TooManyEndpointsError,
)

FAST = dict(retry_base_delay=0.001, retry_max_delay=0.002)


async def test_success_auto_registers_and_runs_sync_in_thread() -> None:
    ex = RateLimitedExecutor()
    main = threading.get_ident()
    result = await ex.execute("new", lambda x: (x * 2, threading.get_ident()), 21)
    assert result.success and result.value[0] == 42 and result.value[1] != main and result.attempts == 1
    assert "new" in ex.get_health_status() and ex.default_config == RateLimitConfig()

    async def coro(x: int) -> int:
        return x + 1

    assert (await ex.execute("new", coro, 1)).value == 2
    assert (await ex.execute("new", lambda: coro(5))).value == 6  # sync callable returning an awaitable
    inline = RateLimitedExecutor(run_sync_in_thread=False)
    assert (await inline.execute("e", threading.get_ident)).value == main


async def test_retries_with_backoff_then_success_or_last_error() -> None:
    ex = RateLimitedExecutor(RateLimitConfig(retry_count=2, **FAST))  # type: ignore[arg-type]
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise RuntimeError(f"boom {calls['n']}")
        return "ok"

    r = await ex.execute("a", flaky)
    assert r.success and r.value == "ok" and r.attempts == 3
    errors: list[Exception] = []

    def always() -> None:
        errors.append(ValueError(len(errors)))
        raise errors[-1]

    r = await ex.execute("a", always)
    assert not r.success and r.attempts == 3 and r.error is errors[-1]
    stats = ex.get_stats("a")["a"]
    assert (stats.total_executions, stats.successful_executions, stats.failed_executions) == (2, 1, 1)
    assert stats.total_retries == 4 and stats.rate_limiter.successful_requests == 6
    assert ex.get_stats("missing") == {}
    ex.reset_stats()
    assert ex.get_stats()["a"].total_executions == 0


async def test_permit_released_after_every_attempt() -> None:
    ex = RateLimitedExecutor(RateLimitConfig(burst_size=1, requests_per_second=1000, retry_count=1, **FAST))  # type: ignore[arg-type]

    def fail() -> None:
        raise KeyError("x")

    await ex.execute("p", fail)
    assert ex._endpoints["p"].limiter.held_permits == 0


async def test_rate_limited_is_not_retried_and_has_retry_after() -> None:
    ex = RateLimitedExecutor(RateLimitConfig(burst_size=0, strategy=RateLimitStrategy.REJECT))
    r = await ex.execute("r", lambda: 1)
    assert not r.success and r.rate_limited and r.attempts == 1
    assert isinstance(r.error, RateLimitExceeded) and r.error.retry_after is not None


async def test_fallback_value_handler_and_handler_error() -> None:
    ex = RateLimitedExecutor(RateLimitConfig(burst_size=0, strategy=RateLimitStrategy.FALLBACK, fallback_value="v"))
    r = await ex.execute("f", lambda: 1)
    assert r.success and r.used_fallback and r.value == "v"

    async def handler() -> str:
        return "h"

    ex.register("g", RateLimitConfig(burst_size=0, strategy=RateLimitStrategy.FALLBACK, fallback_handler=handler))
    assert (await ex.execute("g", lambda: 1)).value == "h"

    def broken() -> None:
        raise OSError("handler down")

    ex.register("b", RateLimitConfig(burst_size=0, strategy=RateLimitStrategy.FALLBACK, fallback_handler=broken))
    r = await ex.execute("b", lambda: 1)
    assert not r.success and r.used_fallback and isinstance(r.error, OSError)
    assert ex.get_stats("b")["b"].fallback_executions == 1


async def test_circuit_opens_and_refuses_with_fallback_or_error() -> None:
    ex = RateLimitedExecutor(RateLimitConfig(retry_count=0, **FAST))  # type: ignore[arg-type]
    ex.register("c", circuit_config=CircuitBreakerConfig(failure_threshold=2, open_timeout=timedelta(seconds=60)))

    def fail() -> None:
        raise RuntimeError("down")

    await ex.execute("c", fail)
    await ex.execute("c", fail)
    r = await ex.execute("c", lambda: 1)
    assert not r.success and r.circuit_open and isinstance(r.error, CircuitOpenError)
    assert r.error.retry_after is not None and r.error.retry_after > 0
    assert not ex.is_healthy("c") and ex.get_health_status()["c"]["circuit_state"] == "open"
    fb = RateLimitConfig(strategy=RateLimitStrategy.FALLBACK, fallback_value=0, retry_count=0)
    ex.register("d", fb, CircuitBreakerConfig(failure_threshold=1))
    await ex.execute("d", fail)
    r = await ex.execute("d", lambda: 1)
    assert r.success and r.used_fallback and r.value == 0


async def test_health_and_unregister() -> None:
    ex = RateLimitedExecutor()
    ex.register("h")
    assert ex.is_healthy("h")
    assert ex.get_health_status() == {"h": {"healthy": True, "circuit_state": "n/a", "rate_limited": False}}
    ex.unregister("h")
    ex.unregister("h")
    assert ex.get_health_status() == {}


async def test_cancellation_releases_the_permit() -> None:
    ex = RateLimitedExecutor()
    task = asyncio.create_task(ex.execute("slow", asyncio.sleep, 10))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ex._endpoints["slow"].limiter.held_permits == 0


def test_license_gate_is_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmteam.licensing import FeatureNotLicensedError

    RateLimitedExecutor()  # community tier, gate off by default
    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")
    with pytest.raises(FeatureNotLicensedError):
        RateLimitedExecutor()


async def test_auto_registered_endpoints_are_bounded_lru_and_explicit_ones_are_kept() -> None:
    # The limits live in the backend, which keeps what matters: the executor may forget any idle endpoint.
    config = RateLimitConfig(requests_per_second=1000, burst_size=100)
    ex = RateLimitedExecutor(config, max_auto_endpoints=3, backend=MemoryRateLimitBackend())
    ex.register("explicit")

    async def ok() -> int:
        return 1

    for i in range(10):
        assert (await ex.execute(f"caller-{i}", ok)).success
        assert (await ex.execute("caller-7" if i > 7 else f"caller-{i}", ok)).success
    names = set(ex.get_stats())
    assert "explicit" in names
    assert names - {"explicit"} == {"caller-7", "caller-8", "caller-9"}  # the 3 most recently used


# --- review 2026-11-30, finding 1: junk endpoint names cannot make the executor forget a busy endpoint ----------

SLOW = dict(requests_per_second=0.001, requests_per_minute=1000, requests_per_hour=10_000, burst_size=2,
            strategy=RateLimitStrategy.REJECT, retry_count=0)  # no token comes back while a test runs


async def test_cycling_junk_names_never_resets_a_busy_endpoint() -> None:
    ex = RateLimitedExecutor(RateLimitConfig(**SLOW), max_auto_endpoints=5)  # type: ignore[arg-type]
    admitted = 0
    for round_ in range(5):
        for _ in range(3):  # a bucket of 2: the third call of a round, and every later one, must be refused
            admitted += (await ex.execute("paid-api", lambda: "called")).success
        for i in range(20):  # attacker-chosen endpoint names
            junk = await ex.execute(f"junk-{round_}-{i}", lambda: "called")
            if not junk.success:  # every kept endpoint still matters: the new name is refused, none forgotten
                assert junk.rate_limited and isinstance(junk.error, TooManyEndpointsError)
                assert "max_auto_endpoints=5" in str(junk.error)
    assert admitted == 2  # was 10: each flood of names evicted paid-api and its fresh bucket admitted 2 more
    ex.register("mine")  # registered endpoints are never refused
    assert (await ex.execute("mine", lambda: "called")).success


async def test_idle_endpoints_make_room_for_new_names() -> None:
    # a token every microsecond and windows the bucket keeps (untracked): an endpoint is idle again at once
    quick = RateLimitConfig(requests_per_second=1e6, requests_per_minute=1e9, requests_per_hour=1e12, burst_size=1)
    ex = RateLimitedExecutor(quick, max_auto_endpoints=3)
    for i in range(50):
        assert (await ex.execute(f"caller-{i}", lambda: "called")).success
    assert len(ex.get_stats()) == 3


async def test_an_endpoint_in_use_is_never_forgotten() -> None:
    # idle-looking (its bucket refilled at once) but still running: forgetting it would give its name two limits
    quick = RateLimitConfig(requests_per_second=1e6, requests_per_minute=1e9, requests_per_hour=1e12, burst_size=1,
                            retry_count=1, retry_base_delay=60.0, retry_max_delay=60.0)
    ex = RateLimitedExecutor(quick, max_auto_endpoints=1)
    failed = asyncio.Event()

    async def flaky() -> str:
        failed.set()
        raise ConnectionError("retry me")

    running = asyncio.create_task(ex.execute("x", flaky))  # fails, then sleeps before its retry
    await failed.wait()
    other = await ex.execute("y", lambda: "called")
    assert isinstance(other.error, TooManyEndpointsError) and "x" in ex.get_stats()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (await ex.execute("y", lambda: "called")).success  # no longer in use: it made room


endpoint_names = st.lists(st.sampled_from("abcdef"), max_size=40)


@settings(max_examples=100, deadline=None)
@given(calls=endpoint_names)
def test_a_bounded_executor_never_admits_what_an_unbounded_one_refuses(calls: list[str]) -> None:
    """With at most 2 endpoints kept, any sequence of names admits a subset of what keeping them all admits."""

    async def scenario() -> None:
        bounded = RateLimitedExecutor(RateLimitConfig(**SLOW), max_auto_endpoints=2)  # type: ignore[arg-type]
        unbounded = RateLimitedExecutor(RateLimitConfig(**SLOW), max_auto_endpoints=10**6)  # type: ignore[arg-type]
        admitted = {name: 0 for name in calls}
        for name in calls:
            kept = (await bounded.execute(name, lambda: "called")).success
            assert kept <= (await unbounded.execute(name, lambda: "called")).success
            admitted[name] += kept
        assert all(count <= 2 for count in admitted.values())  # burst 2, no refill: never more, whatever the order

    asyncio.run(scenario())


def test_max_auto_endpoints_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_auto_endpoints=0"):
        RateLimitedExecutor(max_auto_endpoints=0)


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the loop (and worker threads) until ``condition()`` holds; the test's timeout bounds it."""
    while not condition():
        await asyncio.sleep(0.001)


async def test_a_cancelled_blocking_call_keeps_its_permit_until_its_thread_returns() -> None:
    # review 2026-11-30, finding 2: the caller gives up (client timeout) but the worker thread still calls the
    # endpoint; the permit was released at once, so 6 calls were in flight with burst_size=2.
    ex = RateLimitedExecutor(
        RateLimitConfig(requests_per_second=1000, burst_size=2, strategy=RateLimitStrategy.REJECT, retry_count=0)
    )
    gate = threading.Event()
    lock = threading.Lock()
    running = {"now": 0, "peak": 0}

    def call_endpoint() -> str:  # a blocking SDK call
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        gate.wait(30)
        with lock:
            running["now"] -= 1
        return "ok"

    try:
        for started in (1, 2):
            task = asyncio.create_task(ex.execute("vendor", call_endpoint))
            await _until(lambda: running["now"] == started)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        refused = await ex.execute("vendor", call_endpoint)  # both permits are still held by the threads
        assert refused.rate_limited and running["peak"] == 2
    finally:
        gate.set()
    await _until(lambda: ex._endpoints["vendor"].limiter.held_permits == 0)  # released when the threads return
    assert (await ex.execute("vendor", call_endpoint)).value == "ok"
