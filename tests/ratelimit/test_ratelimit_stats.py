from __future__ import annotations

from llmteam.ratelimit import CircuitBreakerStats, RateLimiterStats


def test_rate_limiter_stats_properties() -> None:
    assert RateLimiterStats().rejection_rate == 0.0 and RateLimiterStats().average_wait_time == 0.0
    s = RateLimiterStats(total_requests=4, successful_requests=2, rejected_requests=1, total_wait_time=3.0)
    assert s.rejection_rate == 0.25 and s.average_wait_time == 1.5


def test_circuit_stats_failure_rate() -> None:
    assert CircuitBreakerStats().failure_rate == 0.0
    assert CircuitBreakerStats(successful_requests=3, failed_requests=1, rejected_requests=9).failure_rate == 0.25
