"""The per-name state objects of :class:`RedisRateLimitBackend`: a limit's admission script and a breaker's CAS."""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .._backend import Clock, Decision, LimiterState
from .._bucket import late_credit, reservation, window_binds
from .._circuit_core import CircuitSnapshot, CircuitStore
from .._errors import RateLimitBackendError
from .._window import HOUR_GEOMETRY, MINUTE_GEOMETRY, ring_size
from ._memory import MemoryLimiterState
from ._redis_wire import ScriptCall, redact, reply_items, reply_numbers, reply_text

if TYPE_CHECKING:
    from .._config import RateLimitConfig
    from ._redis import RedisRateLimitBackend

logger = logging.getLogger(__name__)
T = TypeVar("T")
_KEY_TTL = 3700  # > the hour window plus two buckets: idle limits expire on their own
_REFRESH_SECONDS = 60  # how often, at most, a decision sets the keys' expiry again (acquire.lua)
_CAS_ATTEMPTS = 64
_MAX_PENDING = 10_000  # releases waiting for Redis; older ones are dropped (their leases expire them anyway)
_PARAMETERS = struct.Struct("<12d")  # ARGV[1] of acquire.lua


def limit_parameters(config: RateLimitConfig, lease_seconds: float) -> list[bytes | str]:
    """ARGV[1..2] of ``acquire.lua``: the limit's fixed parameters as twelve little-endian doubles (one argument the
    script reads without text conversion), and the lease as text (a permit's field carries it); see its header."""
    rate, capacity = float(config.requests_per_second), float(config.burst_size)

    def window(geometry: tuple[float, float], limit: float) -> float:
        return float(limit) if window_binds(capacity, rate, geometry[1], limit) else -1.0

    numbers = (
        rate,
        capacity,
        window(MINUTE_GEOMETRY, config.requests_per_minute),
        window(HOUR_GEOMETRY, config.requests_per_hour),
        lease_seconds,
        MINUTE_GEOMETRY[0],
        ring_size(*MINUTE_GEOMETRY),
        HOUR_GEOMETRY[0],
        ring_size(*HOUR_GEOMETRY),
        max(_KEY_TTL, int(lease_seconds) + _REFRESH_SECONDS + 1),  # refreshed a minute later at most
        late_credit(rate) * rate,
        reservation(capacity, rate, config.requests_per_minute, config.requests_per_hour) * rate,
    )
    return [_PARAMETERS.pack(*numbers), repr(lease_seconds)]


class RedisLimiterState(LimiterState):
    """One limit in Redis. Releases are batched into the next decision (or flushed soon after) to keep one trip.

    Decisions use the Redis server's clock only; ``clock`` drives the per-process fallback state alone.
    """

    def __init__(self, backend: RedisRateLimitBackend, name: str, config: RateLimitConfig, clock: Clock | None):
        self._backend = backend
        self._config = config
        self._clock = clock
        self._keys = [backend.key("rl", name, part) for part in ("state", "minute", "hour", "released")]
        self._call = ScriptCall("acquire.lua", self._keys, limit_parameters(config, backend.permit_lease_seconds))
        self._pending: list[str] = []
        self._flushing: set[str] = set()  # releases sent by a flush still waiting for its reply
        self._flush_scheduled = False
        self._last = (float(config.burst_size), config.burst_size < 1)
        self._local: MemoryLimiterState | None = None
        self._local_until = 0.0
        self._local_permits: set[str] = set()

    async def decide(self, permit_id: str, due: bool = False) -> Decision:
        if self._local is not None and time.monotonic() < self._local_until:
            return self._decide_locally(permit_id, due)
        releases, self._pending = self._pending, []
        # Releases still on their way in a flush or with another decision go along too (HDEL is idempotent): a
        # server that reads this call first, on another connection, must not count them as held. Only the call
        # that carried them first records them if not held.
        flushing = list(self._flushing)
        self._flushing.update(releases)  # on their way now: decisions made meanwhile carry them too
        sent = time.monotonic()
        try:
            reply = await self._backend.run_script(
                self._call, [permit_id, "1" if due else "0", str(len(flushing)), *flushing, *releases]
            )
            received = time.monotonic()
            admitted_flag, wait, tokens, seconds, micros = reply_numbers(reply, 5, "acquire.lua")
        except asyncio.CancelledError:
            # The caller was cancelled; the script may already have admitted ``permit_id`` on the server. Nobody
            # will hold it here, so release it (a no-op on the server if it was never admitted).
            self._requeue(releases)
            self.release(permit_id)
            raise
        except RateLimitBackendError:
            # The script may have run before the connection broke (or answered what this client cannot read):
            # release ``permit_id`` too, so that a permit admitted on the server but never seen here is not
            # counted until its lease ends.
            self._requeue([*releases, permit_id])
            if not self._backend.fallback_to_local:
                raise
            logger.warning("Redis rate-limit backend unreachable; deciding locally", exc_info=True)
            if self._local is None:
                self._local = MemoryLimiterState(self._config, self._clock)
            self._local_until = time.monotonic() + self._backend.local_fallback_seconds
            return self._decide_locally(permit_id, due)
        finally:
            self._flushing.difference_update(releases)
        age = self._backend.server_clock.age(sent, received, seconds + micros / 1_000_000)  # the script's own sum
        admitted = admitted_flag == 1.0
        self._last = (tokens, not admitted)
        if wait < 0.0:  # refused: -1 only a release can help, -2 never
            return Decision(False, None if wait == -1.0 else math.inf, tokens)
        return Decision(admitted, wait, tokens, age)

    def _decide_locally(self, permit_id: str, due: bool) -> Decision:
        local = self._local
        assert local is not None
        decision = local.decide_now(due)
        if decision.admitted:
            self._local_permits.add(permit_id)
        return decision

    def _requeue(self, releases: list[str]) -> None:
        """Put releases that did not reach Redis back in front of the queue (bounded: oldest dropped first)."""
        self._pending = (releases + self._pending)[-_MAX_PENDING:]

    def release(self, permit_id: str) -> None:
        if permit_id in self._local_permits:
            self._local_permits.discard(permit_id)
            if self._local is not None:
                self._local.release()
            return
        self._pending.append(permit_id)
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the release travels with the next decision
        self._flush_scheduled = True
        loop.call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            task = asyncio.get_running_loop().create_task(self._flush())
            flushes = self._backend.flushes
            flushes.add(task)
            task.add_done_callback(flushes.discard)

    async def _flush(self) -> None:
        releases, self._pending = self._pending, []
        if not releases:
            return
        self._flushing.update(releases)
        try:  # the script alone (no decision): a release of a permit not held is recorded, see acquire.lua
            await self._backend.run_script(self._call, ["", "0", "0", *releases])
        except RateLimitBackendError:
            self._requeue(releases)
            logger.warning("could not release %d permit(s) in Redis; retrying with the next call", len(releases))
        finally:
            self._flushing.difference_update(releases)

    def last_known(self) -> tuple[float, bool]:
        return self._last


class RedisCircuitStore(CircuitStore):
    """A breaker snapshot as JSON in Redis, updated by optimistic compare-and-set (Lua), retried on conflict.

    Each attempt reads the snapshot and the server's ``TIME`` in one script, and applies the transition at that
    time: a process's own clock never decides a shared breaker.
    """

    def __init__(self, backend: RedisRateLimitBackend, name: str) -> None:
        self._backend = backend
        self._key = backend.key("cb", name, "state")
        self._snap = CircuitSnapshot()

    @property
    def identity(self) -> str:
        return f"{redact(self._backend.url)}|{self._key}"

    async def update(self, fn: Callable[[CircuitSnapshot, float], T], clock: Clock) -> T:
        backend = self._backend
        for _ in range(_CAS_ATTEMPTS):
            seconds, micros, raw = reply_items(await backend.call("circuit_read.lua", [self._key], []), 3, "TIME")
            snap = CircuitSnapshot() if raw is None else CircuitSnapshot.from_json(reply_text(raw, "GET"))
            expected = snap.version
            result = fn(snap, float(reply_text(seconds, "TIME")) + int(reply_text(micros, "TIME")) / 1_000_000)
            snap.version = expected + 1
            written = await backend.call("circuit_cas.lua", [self._key], [expected, snap.to_json(), _KEY_TTL])
            if written == 1:
                self._snap = snap
                return result
        raise RateLimitBackendError(
            f"circuit state {self._key!r} in Redis at {redact(backend.url)} kept changing under "
            f"{_CAS_ATTEMPTS} attempts; retry"
        )

    def peek(self) -> CircuitSnapshot:
        return self._snap
