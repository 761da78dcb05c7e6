from __future__ import annotations

import pytest

from llmteam.ratelimit import (
    CircuitOpenError,
    QueueFullError,
    RateLimitBackendError,
    RateLimitError,
    RateLimitExceeded,
)


@pytest.mark.parametrize(
    ("exc", "attrs"),
    [
        (RateLimitExceeded("api", retry_after=1.5), {"name": "api", "retry_after": 1.5}),
        (RateLimitExceeded("api"), {"name": "api", "retry_after": None}),
        (CircuitOpenError("svc", 2.0), {"name": "svc", "retry_after": 2.0}),
        (QueueFullError("q", 7), {"name": "q", "queue_size": 7}),
    ],
)
def test_errors_keep_their_arguments_and_name_them(exc: RateLimitError, attrs: dict[str, object]) -> None:
    assert isinstance(exc, RateLimitError) and isinstance(exc, Exception)
    for key, value in attrs.items():
        assert getattr(exc, key) == value
    assert str(attrs["name"]) in str(exc)


def test_backend_error_is_a_rate_limit_error() -> None:
    assert issubclass(RateLimitBackendError, RateLimitError)
