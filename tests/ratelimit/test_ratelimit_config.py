from __future__ import annotations

from datetime import timedelta

import pytest

from llmteam.backends.url import StoreURLError
from llmteam.ratelimit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    RateLimitConfig,
    RateLimitConfigError,
    RateLimiter,
    RateLimitStrategy,
    RedisRateLimitBackend,
)
from llmteam.ratelimit._config import MAX_COUNT, MAX_RATE, MAX_SECONDS, MAX_WINDOW_LIMIT, MIN_RATE


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


# --- review 2026-11-30, finding 7: hostile values are refused when built, naming the field and its range ---------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("burst_size", 10**400),  # accepted before, then OverflowError in RateLimiter
        ("queue_size", 10**10),
        ("retry_count", 10**400),
        ("requests_per_second", 1e-320),  # 1 / rate overflows to inf
        ("requests_per_second", 1e308),
        ("requests_per_minute", float("inf")),
        ("requests_per_hour", 1e300),
        ("max_wait_seconds", float("inf")),
        ("retry_max_delay", 1e308),
    ],
)
def test_out_of_range_rate_config_is_refused_naming_the_range(field: str, value: object) -> None:
    with pytest.raises(RateLimitConfigError) as info:
        RateLimitConfig(**{field: value})  # type: ignore[arg-type]
    text = str(info.value)
    assert f"RateLimitConfig.{field}=" in text and ("[" in text or "(" in text) and len(text) < 200


@pytest.mark.parametrize("value", [1e300, float("inf"), float("nan"), timedelta.max, "30"])
def test_out_of_range_open_timeout_is_refused(value: object) -> None:
    with pytest.raises(RateLimitConfigError, match="open_timeout"):  # 1e300 was an OverflowError
        CircuitBreakerConfig(open_timeout=value)  # type: ignore[arg-type]


def test_the_largest_values_in_range_work() -> None:
    config = RateLimitConfig(
        requests_per_second=MAX_RATE, requests_per_minute=MAX_WINDOW_LIMIT, requests_per_hour=MAX_WINDOW_LIMIT,
        burst_size=MAX_COUNT, queue_size=MAX_COUNT, retry_count=MAX_COUNT, max_wait_seconds=MAX_SECONDS,
    )
    limiter = RateLimiter("edge", config)
    assert limiter.available_tokens == float(MAX_COUNT) and not limiter.is_limited
    slow = RateLimiter("slow", RateLimitConfig(requests_per_second=MIN_RATE, burst_size=1))
    assert slow.config.get_min_interval() < float("inf")
    assert CircuitBreakerConfig(open_timeout=MAX_SECONDS).open_timeout.total_seconds() == MAX_SECONDS


@pytest.mark.parametrize("name", ["\ud800", "a\udc00b", "", 123])
def test_a_name_that_cannot_be_a_key_is_refused_on_every_backend(name: object) -> None:
    with pytest.raises(RateLimitConfigError, match="RateLimiter name"):
        RateLimiter(name, RateLimitConfig())  # type: ignore[arg-type]
    with pytest.raises(RateLimitConfigError, match="CircuitBreaker name"):
        CircuitBreaker(name, CircuitBreakerConfig())  # type: ignore[arg-type]
    with pytest.raises(RateLimitConfigError, match="prefix"):  # was a bare UnicodeEncodeError at first use
        RedisRateLimitBackend("redis://127.0.0.1:6379/0", prefix=name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("permit_lease_seconds", float("inf")),  # OverflowError on first use
        ("permit_lease_seconds", 1e300),  # a raw ResponseError on every acquire, and permits without expiry
        ("permit_lease_seconds", float("nan")),
        ("command_timeout", float("inf")),
        ("connect_timeout", 0),
        ("local_fallback_seconds", 1e12),
        ("fallback_to_local", "no"),
    ],
)
def test_out_of_range_redis_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(RateLimitConfigError, match=f"RedisRateLimitBackend.{field}="):
        RedisRateLimitBackend("redis://127.0.0.1:6379/0", **{field: value})  # type: ignore[arg-type]


def test_a_redis_url_naming_no_database_number_is_refused() -> None:
    with pytest.raises(StoreURLError, match="'abc' is not a number"):  # silently database 0 before
        RedisRateLimitBackend("redis://127.0.0.1:6379/abc")
