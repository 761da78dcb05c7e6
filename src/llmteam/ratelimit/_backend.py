"""The storage side of rate limiting: a backend hands out per-name limiter state and circuit state.

The algorithm (contract §6.2 admission, §6.3 state machine) is fixed; a backend decides where the state lives:
in this process (:class:`MemoryRateLimitBackend`) or in Redis, shared by every process that uses the same URL
and prefix (:class:`RedisRateLimitBackend`). Like ``limits``' storage, a backend is chosen by URL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ._circuit_core import CircuitStore
    from ._config import CircuitBreakerConfig, RateLimitConfig

Clock = Callable[[], float]


class Decision(NamedTuple):
    """One admission decision.

    ``wait``: refused, seconds from the decision until rules (a)/(b) may admit (None if only a release can, inf
    if nothing ever can); admitted, seconds until the bucket holds a token again (0.0 if it still does).
    ``tokens``: the bucket's tokens after the decision. ``age``: seconds between the decision and its return to
    the caller (0.0 in process; a remote state's estimate from the server's clock, see
    ``stores/_redis_clock.py``): the caller's own wait is ``wait - age``.
    """

    admitted: bool
    wait: float | None
    tokens: float
    age: float = 0.0


class LimiterState(ABC):
    """The state of one named limit; :meth:`decide` is atomic with respect to every sharer of the state."""

    @abstractmethod
    async def decide(self, permit_id: str, due: bool = False) -> Decision:
        """Admit one request under rules (a)-(c), holding permit ``permit_id``, or say how long to wait.

        ``due``: the caller is a waiter woken for the token it was told to wait for; it keeps the refill its
        lateness would otherwise lose, up to ``late_credit`` seconds (see ``_bucket.py``).
        """

    @abstractmethod
    def release(self, permit_id: str) -> None:
        """Give back permit ``permit_id`` (sync, never raises; remote backends send it with the next call)."""

    @abstractmethod
    def last_known(self) -> tuple[float, bool]:
        """``(available_tokens, is_limited)`` now, or as of the last decision for a remote state."""


class RateLimitBackend(ABC):
    """Where limiter and breaker state lives. One backend instance may serve many limiters and breakers."""

    #: clock used by circuit breakers on this backend (shared backends need a clock every process agrees on)
    circuit_clock: Clock
    #: True when state is shared with other processes: decisions then use the server's time, never ``clock=``
    shares_state: bool = False

    @abstractmethod
    def limiter_state(self, name: str, config: RateLimitConfig, clock: Clock | None) -> LimiterState:
        """The state for limiter ``name``; limiters with the same name on one backend share it."""

    @abstractmethod
    def circuit_store(self, name: str, config: CircuitBreakerConfig) -> CircuitStore:
        """The state store for circuit breaker ``name``; breakers with the same name on one backend share it."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, a no-op for in-memory state
        """Release connections (no-op for in-memory state)."""
