from __future__ import annotations

import asyncio
import math
import tracemalloc
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmteam.ratelimit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    MemoryRateLimitBackend,
    RateLimitConfig,
    RateLimitedExecutor,
    RateLimiter,
    RateLimitStrategy,
)
from llmteam.ratelimit.stores._memory import MemoryLimiterState


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_wait_estimate_names_the_blocking_rule() -> None:
    clock = FakeClock()
    state = MemoryLimiterState(RateLimitConfig(requests_per_second=2.0, burst_size=1), clock)
    assert state.wait_estimate(clock.now) == 0.0
    assert state.try_admit(clock.now)
    assert state.wait_estimate(clock.now) == 0.5  # a token in 0.5 s
    clock.now += 1.0
    assert state.wait_estimate(clock.now) is None  # only the held permit blocks: wait for a release
    state.release()
    state.release()  # extra release is ignored
    assert state.held == 0 and state.try_admit(clock.now)
    assert MemoryLimiterState(RateLimitConfig(burst_size=0), clock).wait_estimate(clock.now) == math.inf


def test_clock_going_backwards_does_not_mint_tokens() -> None:
    clock = FakeClock()
    state = MemoryLimiterState(RateLimitConfig(requests_per_second=1.0, burst_size=1), clock)
    assert state.try_admit(clock.now)
    state.release()
    clock.now -= 5.0
    assert not state.try_admit(clock.now)
    clock.now += 5.5
    assert not state.try_admit(clock.now)
    clock.now += 0.5
    assert state.try_admit(clock.now)


def test_memory_backend_shares_state_by_name() -> None:
    backend = MemoryRateLimitBackend()
    config = RateLimitConfig()
    assert backend.limiter_state("a", config, None) is backend.limiter_state("a", config, None)
    assert backend.limiter_state("a", config, None) is not backend.limiter_state("b", config, None)
    assert backend.circuit_store("a", None) is backend.circuit_store("a", None)  # type: ignore[arg-type]


# --- item 16: per-name state is bounded, and eviction is unobservable -------------------------------------------

FAST = dict(requests_per_second=2.0, requests_per_minute=5, requests_per_hour=8, burst_size=2)


async def test_idle_names_are_evicted_down_to_the_bound() -> None:
    clock = FakeClock()
    backend = MemoryRateLimitBackend(max_states=100)
    config = RateLimitConfig(**FAST, strategy=RateLimitStrategy.FALLBACK)  # type: ignore[arg-type]
    for i in range(3000):  # the attacker's move: one request under each of thousands of names
        lim = RateLimiter(f"n{i}", config, backend=backend, clock=clock)
        assert await lim.acquire()
        lim.release()
        breaker = CircuitBreaker(f"n{i}", CircuitBreakerConfig(), backend=backend, clock=clock)
        await breaker.record_success()
    # Every one of them is inside its hour window: forgetting any would let it be admitted again too early.
    assert backend.state_counts() == (3000, 3000)
    del lim, breaker  # nobody uses those names any more (a state in use is never evicted)
    clock.now += 3700.0  # now every window is empty again: those states are equivalent to fresh ones
    for i in range(3000, 3300):  # new names that stay fresh (looked at, nothing admitted) push the idle ones out
        assert RateLimiter(f"n{i}", config, backend=backend, clock=clock).available_tokens == 2.0
        assert await CircuitBreaker(f"n{i}", CircuitBreakerConfig(), backend=backend, clock=clock).allow_request()
    assert backend.state_counts() == (100, 100)
    for i in range(3300, 3450):  # names admitted now are active for an hour: kept beyond the bound, not forgotten
        assert await RateLimiter(f"n{i}", config, backend=backend, clock=clock).acquire()
    assert backend.state_counts()[0] == 150  # the fresh ones made room first


async def test_a_state_in_use_or_holding_a_permit_is_never_replaced() -> None:
    clock = FakeClock()
    backend = MemoryRateLimitBackend(max_states=1)
    config = RateLimitConfig(**FAST, strategy=RateLimitStrategy.FALLBACK)  # type: ignore[arg-type]
    holder = RateLimiter("held", config, backend=backend, clock=clock)
    assert await holder.acquire() and await holder.acquire()  # both permits of burst 2 held
    del holder  # dropped without releasing: the permits stay held (never forgotten)
    clock.now += 7200.0
    for i in range(50):
        await RateLimiter(f"other{i}", config, backend=backend, clock=clock).acquire()
    assert await RateLimiter("held", config, backend=backend, clock=clock).acquire() is False
    user = RateLimiter("in-use", config, backend=backend, clock=clock)
    clock.now += 7200.0  # fresh-equivalent, but a live limiter still uses it: a new one must share it
    for i in range(50):
        await RateLimiter(f"more{i}", config, backend=backend, clock=clock).acquire()
    again = RateLimiter("in-use", config, backend=backend, clock=clock)
    assert await user.acquire() and await again.acquire()
    assert await again.acquire() is False  # one limit, burst 2, shared by both objects


names = st.sampled_from(["a", "b", "c"])
memory_ops = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["acquire", "release", "drop"]), names),
        st.tuples(st.just("advance"), st.sampled_from([0.3, 1.0, 30.0, 61.0, 3700.0])),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=memory_ops)
@example(  # a state evicted while fresh but in use, then admitted, then dropped by its user: forgotten
    steps=[("release", "a"), ("acquire", "b"), ("acquire", "a"), ("acquire", "a"), ("drop", "a"), ("acquire", "a")]
)
def test_eviction_never_changes_a_decision(steps: list[tuple[str, Any]]) -> None:
    """A backend that evicts (bound 1) decides exactly like one that never does, on any sequence of operations."""

    async def scenario() -> None:
        clock = FakeClock()
        config = RateLimitConfig(**FAST, strategy=RateLimitStrategy.FALLBACK)  # type: ignore[arg-type]
        sides = [MemoryRateLimitBackend(max_states=1), MemoryRateLimitBackend(max_states=10**9)]
        limiters: list[dict[str, RateLimiter]] = [{}, {}]
        for op, arg in steps:
            if op == "advance":
                clock.now += arg
                continue
            results = []
            for backend, held in zip(sides, limiters, strict=True):
                if op == "drop":
                    held.pop(arg, None)  # the caller lets go of its limiter (and of any permit it holds)
                    continue
                lim = held.get(arg)
                if lim is None:
                    lim = held[arg] = RateLimiter(arg, config, backend=backend, clock=clock)
                if op == "acquire":
                    results.append(await lim.acquire())
                else:
                    lim.release()
            assert results[:1] == results[1:], f"eviction changed a decision at {op} {arg}"

    asyncio.run(scenario())


# --- review 2026-11-30, finding 5: a name registered anew with stricter limits is held to them -----------------


async def test_re_registering_a_name_with_a_stricter_config_applies_it() -> None:
    ex = RateLimitedExecutor(backend=MemoryRateLimitBackend())
    assert (await ex.execute("vendor", lambda: "warm-up")).success  # auto-registered: 10/s, burst 10
    strict = RateLimitConfig(requests_per_second=1 / 60, requests_per_minute=1, burst_size=1,
                             strategy=RateLimitStrategy.REJECT, retry_count=0)
    ex.register("vendor", strict)  # the operator tightens it to one call a minute
    results = [await ex.execute("vendor", lambda: "called") for _ in range(5)]
    assert sum(r.success for r in results) == 1  # 5 of 5 before: the old state's limits were kept


async def test_limiters_share_a_memory_state_only_when_their_limits_agree() -> None:
    backend = MemoryRateLimitBackend()
    loose = RateLimitConfig(burst_size=10, strategy=RateLimitStrategy.FALLBACK)
    strict = RateLimitConfig(burst_size=1, strategy=RateLimitStrategy.FALLBACK)
    a, b = RateLimiter("n", loose, backend=backend), RateLimiter("n", loose, backend=backend)
    assert await a.acquire() and await b.acquire() and a._state is b._state
    tight = RateLimiter("n", strict, backend=backend)
    assert await tight.acquire() and not await tight.acquire()  # burst 1 holds whatever the loose ones did
    assert backend.state_counts()[0] == 2


# --- review 2026-11-30, finding 8: each attacker-chosen name costs little while it is remembered ---------------


async def test_a_name_used_once_is_small_while_it_is_remembered() -> None:
    backend = MemoryRateLimitBackend(max_states=100)
    config = RateLimitConfig()  # both windows tracked: each name is remembered for an hour
    limiters = [RateLimiter(f"warm-{i}", config, backend=backend) for i in range(10)]  # interned floats, caches
    del limiters
    tracemalloc.start()
    try:
        for i in range(2000):  # the attacker's move: one request under each of many names
            async with RateLimiter(f"user-{i}", config, backend=backend):
                pass
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert backend.state_counts()[0] >= 2000  # all kept: each holds an admission inside its hour
    assert used / 2000 < 4096  # ~9.6 KB a name before (two full rings); ~2 KB now
