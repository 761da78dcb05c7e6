"""``RateLimiter``: contract §6.2 admission with FIFO, bounded waiting on top of a pluggable state backend."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable
from types import TracebackType

from ._backend import Clock, Decision, LimiterState, RateLimitBackend
from ._bucket import reservation
from ._config import RateLimitConfig, RateLimitStrategy
from ._errors import QueueFullError, RateLimitError, RateLimitExceeded
from ._names import check_name
from ._registry import resolve_backend
from ._stats import RateLimiterStats
from .stores._memory import MemoryLimiterState

# A head waiter blocked only by held permits re-checks this often (a local release wakes it at once).
_POLL_SECONDS = 0.05
# Floor for a re-check sleep, so that float rounding at bucket edges can never turn into a busy loop.
_MIN_SLEEP = 0.0005
_WAITING = (RateLimitStrategy.WAIT, RateLimitStrategy.QUEUE)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Waiter:
    __slots__ = ("fut",)

    def __init__(self) -> None:
        self.fut: asyncio.Future[None] | None = None


class RateLimiter:
    """Admits requests under a token bucket, minute/hour windows and a held-permit cap (contract §6.2).

    ``backend`` (keyword-only): None keeps private in-memory state; a :class:`RateLimitBackend` or a URL
    (``memory://``, ``redis://host:6379/0``) shares the limit with every limiter of the same ``name`` on it.
    ``clock`` (keyword-only) replaces ``time.monotonic`` for in-memory decisions (deterministic tests); a shared
    backend decides at its server's time, so there ``clock`` drives only the per-process fallback state.
    """

    def __init__(
        self,
        name: str,
        config: RateLimitConfig,
        *,
        backend: RateLimitBackend | str | None = None,
        clock: Clock | None = None,
    ) -> None:
        check_name("RateLimiter name", name)
        if not isinstance(config, RateLimitConfig):
            raise TypeError(f"RateLimiter config={config!r} must be a RateLimitConfig")
        config.validate()
        self.name = name
        self.config = config
        resolved = resolve_backend(backend)
        self.backend = resolved
        self._state: LimiterState = (
            MemoryLimiterState(config, clock) if resolved is None else resolved.limiter_state(name, config, clock)
        )
        self._local = self._state if isinstance(self._state, MemoryLimiterState) else None
        if self._local is not None:
            self._local.users.add(self)  # a shared in-process state is kept while this limiter lives
        self._clock: Clock = self._local.clock if self._local is not None else time.monotonic
        self._held = 0  # permits this limiter holds on local state
        self._permits: list[str] = []  # permit ids this limiter holds on remote state
        self._permit_prefix = uuid.uuid4().hex[:12]
        self._permit_seq = 0
        self._next_token = 0.0  # time.monotonic() at which the bucket of the last remote admission has a token
        # seconds before its token a waiter asks for it (admitted for it, it proceeds when it is due: _bucket.py)
        self._lead = reservation(
            config.burst_size, config.requests_per_second, config.requests_per_minute, config.requests_per_hour
        )
        self._waiters: deque[_Waiter] = deque()
        self._stats = RateLimiterStats()

    # --- admission -------------------------------------------------------------------------------------------

    async def acquire(self) -> bool:
        """Admit one request and hold a permit (True), or follow the strategy (raise, wait, or return False)."""
        stats = self._stats
        stats.total_requests += 1
        local = self._local
        try:
            if not self._waiters:  # else behind others: wait in line (FIFO)
                if local is not None and local.try_admit(self._clock()):
                    self._held += 1
                    stats.successful_requests += 1
                    return True
                # ask at once, unless a remote bucket is known to be empty and the strategy waits
                if local is not None or self._next_token <= time.monotonic() or self.config.strategy not in _WAITING:
                    decision = await self._decide()
                    if decision.admitted:
                        stats.successful_requests += 1
                        return True
                    return await self._after_refusal(decision)
            return await self._acquire_slow()
        except RateLimitError:
            stats.rejected_requests += 1
            raise

    async def _decide(self, due: bool = False) -> Decision:
        """One decision; ``due``: the caller is the head waiter, woken for its token or asking for it up to the
        lead early. Admitted for a token still to come (reserved, ``_bucket.py``), it returns when that is due."""
        local = self._local
        if local is not None:
            decision = local.decide_now(due)
            if not decision.admitted:
                return decision
            self._held += 1
        else:
            self._permit_seq += 1
            permit = f"{self._permit_prefix}:{self._permit_seq}"
            decision = await self._state.decide(permit, due)
            if not decision.admitted:
                return decision
            self._permits.append(permit)
            decided = time.monotonic() - decision.age
            self._next_token = decided + max(0.0, 1.0 - decision.tokens) / self.config.requests_per_second
        hold = (decision.wait or 0.0) - decision.age
        if hold > 0.0:  # admitted for a token still to come (reserved): proceed when it is due
            try:
                await asyncio.sleep(hold)
            except asyncio.CancelledError:
                self.release()  # the token is spent; the permit is given back
                raise
        return decision

    def _token_eta(self) -> float:
        """Seconds before a shared bucket can hold a token again, from this limiter's last admission alone.

        The server said when its bucket would hold a token again; others can only take more, so no token exists
        before this. The instant is placed on this process's clock no earlier than it can be (``age``, from the
        server's time). A waiter sleeps until the lead before it instead of spending a round trip on a refusal;
        its request then reaches the server within the lead before or the late credit after the token, and
        either keeps the rate. Negative when nothing is known.
        """
        return self._next_token - time.monotonic()

    async def _acquire_slow(self) -> bool:
        """Admission with waiters ahead, or with a remote bucket known to be empty (wait without asking)."""
        ahead = len(self._waiters)
        if ahead:
            return await self._follow_strategy(self._estimate_behind(ahead), None, ahead)
        eta = self._token_eta()
        return await self._follow_strategy(eta, eta - self._lead if eta > self._lead else None, 0)  # None: ask now

    def _after_refusal(self, decision: Decision) -> Awaitable[bool]:
        """Follow the strategy for a caller (nobody ahead of it) that ``decision`` just refused."""
        wait = decision.wait
        # a token or window wait: sleep it out before deciding again
        return self._follow_strategy(wait, None if wait is None else self._sleep_for(decision), 0)

    async def _follow_strategy(self, wait: float | None, first_sleep: float | None, ahead: int) -> bool:
        """Refuse (REJECT), return False (FALLBACK) or wait in line (WAIT, QUEUE) for at most ``max_wait_seconds``.

        ``wait``: the least the caller would wait (None: until a release), ``first_sleep``: how long it sleeps before
        it asks (None: at once), ``ahead``: the waiters before it.
        """
        config = self.config
        strategy = config.strategy
        if strategy is RateLimitStrategy.FALLBACK:
            return False
        if strategy is RateLimitStrategy.REJECT:
            raise self._refusal(wait)
        if strategy is RateLimitStrategy.QUEUE and ahead >= config.queue_size:
            raise QueueFullError(self.name, config.queue_size, retry_after=self._refusal(wait).retry_after)
        if wait is not None and wait > config.max_wait_seconds:
            raise self._refusal(wait)  # includes "impossible" (inf)
        return await self._wait_in_line(strategy is RateLimitStrategy.QUEUE, first_sleep)

    def _sleep_for(self, decision: Decision) -> float:
        """How long a head waiter refused by ``decision`` sleeps before deciding again: its wait, less the time
        that passed since it was decided (``age``: the part of a remote round trip after the server decided),
        less the lead a waiter asks ahead of its token (``_bucket.py``: it is admitted for the token and proceeds
        when it is due; a decision up to the late credit after the token also keeps the rate)."""
        assert decision.wait is not None
        return max(_MIN_SLEEP, decision.wait - decision.age - self._lead)

    def _estimate_behind(self, ahead: int) -> float | None:
        """Lower bound of the wait of a caller with ``ahead`` waiters before it (tokens for all of them)."""
        tokens, _ = self._state.last_known()
        if self.config.burst_size < 1:
            return math.inf
        return max(0.0, (ahead + 1 - tokens) / self.config.requests_per_second)

    def _refusal(self, wait: float | None) -> RateLimitExceeded:
        retry_after = wait if wait is not None and wait > 0 else self.config.get_min_interval()
        return RateLimitExceeded(self.name, retry_after=retry_after)

    async def _wait_in_line(self, queued: bool, first_sleep: float | None = None) -> bool:
        loop = asyncio.get_running_loop()
        me = _Waiter()
        self._waiters.append(me)
        if queued:
            self._stats.queued_requests += 1
        start = time.monotonic()
        deadline = start + self.config.max_wait_seconds
        try:
            while True:
                delay: float | None = None
                if first_sleep is not None:  # the caller just decided: sleep first
                    delay, first_sleep = first_sleep, None
                elif self._waiters[0] is me:
                    decision = await self._decide(due=True)
                    if decision.admitted:
                        self._stats.successful_requests += 1
                        self._stats.total_wait_time += time.monotonic() - start
                        return True
                    remaining = deadline - time.monotonic()
                    if decision.wait is not None and decision.wait > remaining:
                        raise self._refusal(decision.wait)
                    delay = _POLL_SECONDS if decision.wait is None else self._sleep_for(decision)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._refusal(delay)
                fut: asyncio.Future[None] = loop.create_future()
                me.fut = fut
                handle = loop.call_later(remaining if delay is None else min(delay, remaining), _wake, fut)
                try:
                    await fut
                finally:
                    handle.cancel()
                    me.fut = None
        finally:
            was_head = self._waiters[0] is me
            self._waiters.remove(me)
            if was_head:
                self._wake_head()

    def _wake_head(self) -> None:
        if self._waiters:
            fut = self._waiters[0].fut
            if fut is not None and not fut.done():
                fut.set_result(None)

    def release(self) -> None:
        """Release one permit held by this limiter; a release with none held is a no-op. Never raises."""
        if self._local is not None:
            if self._held <= 0:
                return
            self._held -= 1
            self._local.release("")
        else:
            if not self._permits:
                return
            self._state.release(self._permits.pop())
        if self._waiters:
            self._wake_head()

    async def __aenter__(self) -> RateLimiter:
        """Acquire; under FALLBACK a refusal raises ``RateLimitExceeded`` since a block cannot be skipped."""
        if not await self.acquire():
            raise self._refusal(None)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # --- introspection ---------------------------------------------------------------------------------------

    @property
    def held_permits(self) -> int:
        """Permits this limiter currently holds."""
        return self._held if self._local is not None else len(self._permits)

    @property
    def available_tokens(self) -> float:
        """Tokens in the bucket now (for a Redis backend: as of this limiter's last decision); 0.0 while tokens
        are promised to reserved requests (``_bucket.py``)."""
        return max(0.0, self._state.last_known()[0])

    @property
    def is_limited(self) -> bool:
        """True when a request would not be admitted right now (Redis: as of the last decision)."""
        return bool(self._waiters) or self._state.last_known()[1]

    def get_stats(self) -> RateLimiterStats:
        """A snapshot copy of the counters."""
        return dataclasses.replace(self._stats, current_queue_size=len(self._waiters))

    def reset_stats(self) -> None:
        """Zero the counters (the admission state is untouched)."""
        self._stats = RateLimiterStats()

    def __repr__(self) -> str:
        return f"RateLimiter(name={self.name!r}, strategy={self.config.strategy.value})"
