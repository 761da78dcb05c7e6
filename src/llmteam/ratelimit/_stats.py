"""Statistics dataclasses of limiters and breakers (contract §6.2, §6.3)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RateLimiterStats:
    """Counters of one limiter; ``total_requests`` counts every ``acquire`` call."""

    total_requests: int = 0
    successful_requests: int = 0
    rejected_requests: int = 0
    queued_requests: int = 0
    total_wait_time: float = 0.0
    current_queue_size: int = 0

    @property
    def rejection_rate(self) -> float:
        """Rejected / total, 0.0 when nothing was requested."""
        return self.rejected_requests / self.total_requests if self.total_requests else 0.0

    @property
    def average_wait_time(self) -> float:
        """Wait seconds per admission, 0.0 when nothing was admitted."""
        return self.total_wait_time / self.successful_requests if self.successful_requests else 0.0


@dataclass
class CircuitBreakerStats:
    """Counters of one breaker (kept per instance, even when the state is shared through Redis)."""

    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    rejected_requests: int = 0
    state_changes: int = 0
    last_failure_time: float | None = None
    last_success_time: float | None = None
    time_in_open: float = 0.0

    @property
    def failure_rate(self) -> float:
        """Failed / (successful + failed), 0.0 when no result was recorded."""
        done = self.successful_requests + self.failed_requests
        return self.failed_requests / done if done else 0.0
