from __future__ import annotations

from datetime import timedelta

import pytest

from llmteam.ratelimit import CircuitBreakerConfig, RateLimitConfig, RateLimitStrategy


def test_defaults_and_helpers() -> None:
    c = RateLimitConfig()
    limits = (c.requests_per_second, c.requests_per_minute, c.requests_per_hour, c.burst_size)
    assert limits == (10.0, 100.0, 1000.0, 10)
    assert c.strategy is RateLimitStrategy.WAIT and c.max_wait_seconds == 30.0 and c.queue_size == 100
    assert RateLimitConfig(requests_per_second=5.0).get_min_interval() == 0.2
    d = RateLimitConfig(retry_base_delay=1.0, retry_max_delay=10.0)
    assert [d.get_retry_delay(a) for a in (0, 1, 2, 10)] == [1.0, 2.0, 4.0, 10.0]
    assert d.get_retry_delay(5000) == 10.0
    flat = RateLimitConfig(retry_base_delay=3.0, retry_max_delay=2.0, retry_exponential=False)
    assert flat.get_retry_delay(7) == 2.0


def test_positional_construction_and_fresh_defaults() -> None:
    c = RateLimitConfig(1.0, 2.0, 3.0, 4)
    assert c.burst_size == 4
    a, b = CircuitBreakerConfig(), CircuitBreakerConfig()
    assert a.open_timeout == timedelta(seconds=30) and a.open_timeout is not None
    a.failure_threshold = 9
    assert b.failure_threshold == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requests_per_second", 0),
        ("requests_per_second", -1.0),
        ("requests_per_minute", 0.0),
        ("requests_per_hour", -5),
        ("requests_per_second", float("nan")),
        ("burst_size", -1),
        ("queue_size", -1),
        ("max_wait_seconds", -0.1),
        ("retry_count", -2),
        ("retry_base_delay", -1.0),
        ("burst_size", 1.5),
        ("strategy", "sometimes"),
        ("fallback_handler", 42),
    ],
)
def test_bad_rate_config_names_field_and_value(field: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        RateLimitConfig(**{field: value})  # type: ignore[arg-type]
    assert field in str(info.value) and repr(value) in str(info.value)


def test_burst_zero_and_string_strategy_are_accepted() -> None:
    assert RateLimitConfig(burst_size=0).burst_size == 0
    assert RateLimitConfig(strategy="reject").strategy is RateLimitStrategy.REJECT  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("failure_threshold", 0),
        ("sample_size", -1),
        ("failure_rate_threshold", 1.5),
        ("failure_rate_threshold", 0.0),
        ("open_timeout", timedelta(seconds=-1)),
        ("half_open_max_requests", 0),
    ],
)
def test_bad_circuit_config(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        CircuitBreakerConfig(**{field: value})  # type: ignore[arg-type]


def test_should_open() -> None:
    c = CircuitBreakerConfig(failure_threshold=5, failure_rate_threshold=0.5, sample_size=10)
    assert c.should_open(5, 5) and not c.should_open(4, 9) and c.should_open(5, 10) and not c.should_open(4, 10)
    assert CircuitBreakerConfig(open_timeout=2).open_timeout == timedelta(seconds=2)  # type: ignore[arg-type]
