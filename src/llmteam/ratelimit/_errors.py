"""Exceptions of ``llmteam.ratelimit``: one shallow hierarchy under :class:`RateLimitError`."""

from __future__ import annotations

from llmteam._exceptions import LLMTeamError


class RateLimitError(LLMTeamError):
    """Base class of every rate-limiting and circuit-breaking error."""


class RateLimitExceeded(RateLimitError):
    """A request was refused by a rate limiter; ``retry_after`` estimates when to try again (seconds)."""

    def __init__(self, name: str, retry_after: float | None = None) -> None:
        self.name = name
        self.retry_after = retry_after
        hint = "" if retry_after is None else f"; retry after {retry_after:.3f}s"
        super().__init__(f"rate limit {name!r} exceeded{hint}")


class CircuitOpenError(RateLimitError):
    """A circuit breaker refused a request because it is open; ``retry_after`` is in seconds."""

    def __init__(self, name: str, retry_after: float | None = None) -> None:
        self.name = name
        self.retry_after = retry_after
        hint = "" if retry_after is None else f"; retry after {retry_after:.3f}s"
        super().__init__(f"circuit {name!r} is open{hint}")


class TooManyEndpointsError(RateLimitExceeded):
    """A ``RateLimitedExecutor`` already keeps ``max_auto_endpoints`` auto-registered endpoints, each still holding
    limiter state that matters, so a new name is refused rather than one of them forgotten (fail closed)."""

    def __init__(self, name: str, max_auto_endpoints: int) -> None:
        super().__init__(name)
        self.max_auto_endpoints = max_auto_endpoints
        self.args = (
            f"endpoint {name!r} refused: the executor already keeps max_auto_endpoints={max_auto_endpoints} "
            "auto-registered endpoints and each still holds a permit or recent admissions; register() the names "
            "you call (they are never refused), raise max_auto_endpoints, or retry once some are idle",
        )


class QueueFullError(RateLimitError):
    """A QUEUE-strategy limiter already has ``queue_size`` callers waiting."""

    def __init__(self, name: str, queue_size: int, retry_after: float | None = None) -> None:
        self.name = name
        self.queue_size = queue_size
        self.retry_after = retry_after
        super().__init__(
            f"rate limit {name!r}: {queue_size} callers already waiting (queue_size={queue_size}); "
            "retry later or raise queue_size"
        )


class RateLimitConfigError(RateLimitError, ValueError):
    """A configuration value (a limit, a timeout, a name) outside what the limiter can honour; names the field."""


class RateLimitBackendError(RateLimitError):
    """Shared limiter state (Redis) could not be reached; the request was refused (fail closed)."""
