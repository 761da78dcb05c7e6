from __future__ import annotations

import math

from llmteam.ratelimit import MemoryRateLimitBackend, RateLimitConfig
from llmteam.ratelimit._memory import MemoryLimiterState


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
