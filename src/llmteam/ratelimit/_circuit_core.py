"""The circuit-breaker state machine (contract §6.3) as pure transitions on a snapshot, and where snapshots live.

Transitions are pure functions of ``(snapshot, config, now)`` so that a shared store can apply them atomically
(in-memory: inline; Redis: optimistic compare-and-set, retried). Every piece of state is bounded: at most
``half_open_max_requests`` probe timestamps and at most 60 one-second result buckets.

Each entry into HALF_OPEN starts a new probe epoch. ``allow`` tells every admitted caller the current epoch, and
in HALF_OPEN a result carrying an older epoch is stale: results of calls admitted earlier (while CLOSED, or in an
earlier half-open period) cannot close or re-open the breaker while its probes have not reported. A result that
carries no epoch (its caller's admission is unknown) counts as before.
"""

from __future__ import annotations

import itertools
import json
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, TypeVar

from ._config import CircuitBreakerConfig, CircuitState

WINDOW_SECONDS = 60
T = TypeVar("T")
_STORE_IDS = itertools.count(1)  # identities of in-memory stores (never reused, unlike id())


@dataclass
class CircuitSnapshot:
    """Everything a breaker knows; serialisable to JSON for shared stores."""

    state: str = CircuitState.CLOSED.value
    changed_at: float | None = None
    opened_at: float = 0.0
    consecutive_failures: int = 0
    half_open_successes: int = 0
    probes: list[float] = field(default_factory=list)  # issue times of outstanding half-open probes
    window: list[list[int]] = field(default_factory=list)  # [second, failures, results], oldest first
    probe_epoch: int = 0  # incremented on every entry into HALF_OPEN
    version: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CircuitSnapshot:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


class Outcome(NamedTuple):
    """Result of one transition: allowed?, retry_after when refused, the (old, new) states if it changed, and
    for an admitted call the probe epoch it was admitted in."""

    allowed: bool
    retry_after: float | None
    change: tuple[str, str] | None
    probe: int | None = None


def _move(snap: CircuitSnapshot, new: CircuitState, now: float) -> tuple[str, str] | None:
    old = snap.state
    if old == new.value:
        return None
    snap.state = new.value
    snap.changed_at = now
    snap.probes = []
    snap.half_open_successes = 0
    if new is CircuitState.OPEN:
        snap.opened_at = now
    elif new is CircuitState.HALF_OPEN:
        snap.probe_epoch += 1
    else:
        snap.consecutive_failures = 0
        snap.window = []
    return (old, new.value)


def _record_window(snap: CircuitSnapshot, now: float, failed: bool) -> tuple[int, int]:
    second = int(now)
    window = [b for b in snap.window if b[0] > second - WINDOW_SECONDS]
    if window and window[-1][0] >= second:
        window[-1][1] += int(failed)
        window[-1][2] += 1
    else:
        window.append([second, int(failed), 1])
    snap.window = window
    return sum(b[1] for b in window), sum(b[2] for b in window)


def allow(snap: CircuitSnapshot, config: CircuitBreakerConfig, now: float) -> Outcome:
    """``allow_request``: CLOSED admits; OPEN admits the first probe after the timeout; HALF_OPEN caps probes."""
    timeout = config.open_timeout.total_seconds()
    if snap.state == CircuitState.CLOSED.value:
        return Outcome(True, None, None, snap.probe_epoch)
    if snap.state == CircuitState.OPEN.value:
        remaining = timeout - (now - snap.opened_at)
        if remaining > 0:
            return Outcome(False, remaining, None)
        change = _move(snap, CircuitState.HALF_OPEN, now)
        snap.probes = [now]
        return Outcome(True, None, change, snap.probe_epoch)
    # HALF_OPEN: a probe without a result stops counting after open_timeout (no sticky half-open)
    snap.probes = [p for p in snap.probes if now - p < timeout]
    if len(snap.probes) < config.half_open_max_requests:
        snap.probes.append(now)
        return Outcome(True, None, None, snap.probe_epoch)
    return Outcome(False, max(0.0, timeout - (now - snap.probes[0])), None)


def success(snap: CircuitSnapshot, config: CircuitBreakerConfig, now: float, probe: int | None = None) -> Outcome:
    """``record_success``: closes after ``success_threshold`` probe successes; resets the failure streak.

    ``probe``: the epoch the reporting call was admitted in (None: unknown). In HALF_OPEN an older epoch is stale.
    """
    if snap.state == CircuitState.HALF_OPEN.value:
        if probe is not None and probe != snap.probe_epoch:
            return Outcome(True, None, None)  # a stale result: only the probes decide
        if snap.probes:
            snap.probes.pop(0)
        snap.half_open_successes += 1
        if snap.half_open_successes >= config.success_threshold:
            return Outcome(True, None, _move(snap, CircuitState.CLOSED, now))
        return Outcome(True, None, None)
    if snap.state == CircuitState.CLOSED.value:
        snap.consecutive_failures = 0
        _record_window(snap, now, failed=False)
    return Outcome(True, None, None)


def failure(snap: CircuitSnapshot, config: CircuitBreakerConfig, now: float, probe: int | None = None) -> Outcome:
    """``record_failure``: a probe's failure re-opens HALF_OPEN; CLOSED opens on the streak or the failure rate."""
    if snap.state == CircuitState.HALF_OPEN.value:
        if probe is not None and probe != snap.probe_epoch:
            return Outcome(True, None, None)  # a stale result: only the probes decide
        return Outcome(True, None, _move(snap, CircuitState.OPEN, now))
    if snap.state == CircuitState.CLOSED.value:
        snap.consecutive_failures += 1
        failures, total = _record_window(snap, now, failed=True)
        streak = snap.consecutive_failures >= config.failure_threshold
        if streak or (total >= config.sample_size and failures / total >= config.failure_rate_threshold):
            return Outcome(True, None, _move(snap, CircuitState.OPEN, now))
    return Outcome(True, None, None)


def force(target: CircuitState) -> Callable[[CircuitSnapshot, CircuitBreakerConfig, float], Outcome]:
    """A transition that moves to ``target`` unconditionally (``force_open``/``force_close``/``reset``)."""

    def apply(snap: CircuitSnapshot, config: CircuitBreakerConfig, now: float) -> Outcome:
        change = _move(snap, target, now)
        if target is CircuitState.OPEN and change is None:
            snap.opened_at = now  # forcing an open breaker open restarts its timer
        if target is CircuitState.CLOSED:
            snap.consecutive_failures, snap.window = 0, []
        return Outcome(True, None, change)

    return apply


class CircuitStore(ABC):
    """Holds one breaker's snapshot and applies transitions to it atomically."""

    @abstractmethod
    async def update(self, fn: Callable[[CircuitSnapshot, float], T], clock: Callable[[], float]) -> T:
        """Apply ``fn(snapshot, now)`` atomically and persist it; ``fn`` may run more than once.

        ``now`` is ``clock()`` for state in this process; a shared store uses its server's time instead.
        """

    @abstractmethod
    def peek(self) -> CircuitSnapshot:
        """The latest snapshot this process knows (current for in-memory stores)."""

    @property
    @abstractmethod
    def identity(self) -> str:
        """Names the shared state: stores with the same identity hold the same breaker."""


class MemoryCircuitStore(CircuitStore):
    """Snapshot in this process; transitions run inline, so they are atomic under asyncio."""

    def __init__(self) -> None:
        self._snap = CircuitSnapshot()
        self._identity = f"memory:{next(_STORE_IDS)}"
        self._clock: Callable[[], float] | None = None  # the clock of the last update
        self.users: weakref.WeakSet[object] = weakref.WeakSet()  # live breakers using this store (never evicted)

    async def update(self, fn: Callable[[CircuitSnapshot, float], T], clock: Callable[[], float]) -> T:
        self._clock = clock
        return fn(self._snap, clock())

    def is_fresh(self) -> bool:
        """True when this breaker decides like a new one: closed, no failure streak, no result in the window."""
        snap = self._snap
        if snap.state != CircuitState.CLOSED.value or snap.consecutive_failures or snap.probes:
            return False
        if not snap.window:
            return True
        return self._clock is not None and snap.window[-1][0] <= int(self._clock()) - WINDOW_SECONDS

    def peek(self) -> CircuitSnapshot:
        return self._snap

    @property
    def identity(self) -> str:
        return self._identity
