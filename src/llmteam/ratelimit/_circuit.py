"""``CircuitBreaker`` (contract §6.3): the state machine of ``_circuit_core`` plus per-instance statistics."""

from __future__ import annotations

import contextvars
import dataclasses
import time
from collections.abc import Callable
from functools import partial

from ._backend import Clock, RateLimitBackend
from ._circuit_core import CircuitSnapshot, CircuitStore, MemoryCircuitStore, Outcome, allow, failure, force, success
from ._config import CircuitBreakerConfig, CircuitState
from ._errors import CircuitOpenError
from ._names import check_name
from ._registry import resolve_backend
from ._stats import CircuitBreakerStats

Transition = Callable[[CircuitSnapshot, CircuitBreakerConfig, float], Outcome]

# The probe epoch each breaker last admitted the current context (task) in: ((store identity, epoch), ...),
# newest last. In HALF_OPEN, a result recorded in a context admitted in an older epoch is stale.
_PROBES: contextvars.ContextVar[tuple[tuple[str, int], ...]] = contextvars.ContextVar("llmteam_probes", default=())
_MAX_PROBES = 32  # breakers remembered per context


def _probe_of(identity: str) -> int | None:
    for key, epoch in _PROBES.get():
        if key == identity:
            return epoch
    return None


def _set_probe(identity: str, epoch: int | None) -> None:
    current = _PROBES.get()
    if current and current[-1] == (identity, epoch):
        return  # the common case: the same breaker, the same epoch as this task's last admission
    kept = tuple(item for item in current if item[0] != identity)
    if epoch is not None:
        kept = (*kept, (identity, epoch))[-_MAX_PROBES:]
    if kept != current:
        _PROBES.set(kept)


class CircuitBreaker:
    """Stops calling a failing dependency: CLOSED -> OPEN on failures, HALF_OPEN probes after ``open_timeout``.

    In HALF_OPEN only the probes' results count: every admission is remembered in the caller's task (context)
    with the breaker's probe epoch, and a result recorded in a task admitted before the breaker went half-open
    is counted in the statistics but neither closes nor re-opens it. A result from a task in which no
    ``allow_request`` of this breaker ran counts as before.

    ``backend`` (keyword-only) shares the state with every breaker of the same name on it (e.g. Redis);
    ``clock`` replaces the clock of in-process state (deterministic tests). A shared backend decides at its
    server's time and ignores ``clock``: no process can move a breaker others share. Statistics are per instance.
    """

    def __init__(
        self,
        name: str,
        config: CircuitBreakerConfig,
        *,
        backend: RateLimitBackend | str | None = None,
        clock: Clock | None = None,
    ) -> None:
        check_name("CircuitBreaker name", name)
        if not isinstance(config, CircuitBreakerConfig):
            raise TypeError(f"CircuitBreaker config={config!r} must be a CircuitBreakerConfig")
        config.validate()
        self.name = name
        self.config = config
        resolved = resolve_backend(backend)
        self.backend = resolved
        self._store: CircuitStore = MemoryCircuitStore() if resolved is None else resolved.circuit_store(name, config)
        if isinstance(self._store, MemoryCircuitStore):
            self._store.users.add(self)  # a shared in-process state is kept while this breaker lives
        if resolved is not None and resolved.shares_state:
            self._clock: Clock = resolved.circuit_clock
        else:
            self._clock = clock or (resolved.circuit_clock if resolved is not None else time.monotonic)
        self._created = self._clock()
        self._stats = CircuitBreakerStats()
        self._open_since: float | None = None

    async def _apply(self, transition: Transition) -> Outcome:
        outcome = await self._store.update(partial(_call, transition, self.config), self._clock)
        now = self._clock()
        if outcome.change is not None:
            self._stats.state_changes += 1
            old, new = outcome.change
            if old == CircuitState.OPEN.value and self._open_since is not None:
                self._stats.time_in_open += max(0.0, now - self._open_since)
                self._open_since = None
            if new == CircuitState.OPEN.value:
                self._open_since = now
        return outcome

    async def allow_request(self) -> bool:
        """True if a call may proceed now; raises :class:`CircuitOpenError` with ``retry_after`` otherwise."""
        self._stats.total_requests += 1
        outcome = await self._apply(allow)
        if not outcome.allowed:
            self._stats.rejected_requests += 1
            raise CircuitOpenError(self.name, retry_after=outcome.retry_after)
        _set_probe(self._store.identity, outcome.probe)
        return True

    async def record_success(self) -> None:
        """Record a successful call (closes a half-open breaker after ``success_threshold`` of them)."""
        self._stats.successful_requests += 1
        self._stats.last_success_time = time.time()
        await self._apply(partial(success, probe=_probe_of(self._store.identity)))

    async def record_failure(self) -> None:
        """Record a failed call (may open the breaker: streak or rolling failure rate)."""
        self._stats.failed_requests += 1
        self._stats.last_failure_time = time.time()
        await self._apply(partial(failure, probe=_probe_of(self._store.identity)))

    async def force_open(self) -> None:
        """Open now (the open timer starts now)."""
        await self._apply(force(CircuitState.OPEN))

    async def force_close(self) -> None:
        """Close now, clearing the failure counters."""
        await self._apply(force(CircuitState.CLOSED))

    async def reset(self) -> None:
        """Back to a fresh CLOSED breaker (statistics are kept; see :meth:`reset_stats`)."""
        await self._apply(force(CircuitState.CLOSED))

    @property
    def state(self) -> CircuitState:
        """The current state (for a Redis backend: as of this instance's last operation)."""
        return CircuitState(self._store.peek().state)

    @property
    def is_closed(self) -> bool:
        return self.state is CircuitState.CLOSED

    @property
    def is_open(self) -> bool:
        return self.state is CircuitState.OPEN

    @property
    def is_half_open(self) -> bool:
        return self.state is CircuitState.HALF_OPEN

    def get_state_duration(self) -> float:
        """Seconds spent in the current state."""
        changed = self._store.peek().changed_at
        return max(0.0, self._clock() - (self._created if changed is None else changed))

    def get_retry_after(self) -> float | None:
        """Seconds until an open breaker lets a probe through; None unless OPEN."""
        snap = self._store.peek()
        if snap.state != CircuitState.OPEN.value:
            return None
        return max(0.0, self.config.open_timeout.total_seconds() - (self._clock() - snap.opened_at))

    def get_stats(self) -> CircuitBreakerStats:
        """A snapshot copy of this instance's counters (``time_in_open`` includes an ongoing open period)."""
        stats = dataclasses.replace(self._stats)
        if self._open_since is not None and self.is_open:
            stats.time_in_open += max(0.0, self._clock() - self._open_since)
        return stats

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._stats = CircuitBreakerStats()
        self._open_since = self._clock() if self.is_open else None

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value})"


def _call(transition: Transition, config: CircuitBreakerConfig, snap: CircuitSnapshot, now: float) -> Outcome:
    return transition(snap, config, now)
