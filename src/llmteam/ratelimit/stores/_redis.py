"""Redis-shared state: one atomic Lua script per admission decision, one round trip, every process agrees.

``redis.asyncio`` is imported at first use (extra ``redis``). The scripts are resource files under ``lua/``,
run with EVALSHA and re-loaded on NOSCRIPT. Time always comes from the Redis server (``TIME`` inside the
scripts), so processes on different machines share one clock and no caller's clock (skewed, or passed as
``clock=``) can move a shared decision; ``clock=`` applies only to the per-process fallback state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from llmteam.backends.redis import redis_from_url

from .._backend import Clock, Decision, LimiterState, RateLimitBackend
from .._circuit_core import CircuitSnapshot, CircuitStore
from .._errors import RateLimitBackendError
from .._window import HOUR_GEOMETRY, MINUTE_GEOMETRY, ring_size
from ._memory import MemoryLimiterState

if TYPE_CHECKING:
    from .._config import CircuitBreakerConfig, RateLimitConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")
_KEY_TTL = 3700  # > the hour window plus two buckets: idle limits expire on their own
_CAS_ATTEMPTS = 64
_MAX_PENDING = 10_000  # releases waiting for Redis; older ones are dropped (their leases expire them anyway)


def _lua(name: str) -> str:
    return resources.files("llmteam.ratelimit").joinpath("lua").joinpath(name).read_text(encoding="utf-8")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for error messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _connection_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rex

    return (rex.ConnectionError, rex.TimeoutError, OSError)


class RedisRateLimitBackend(RateLimitBackend):
    """Limiter and breaker state in Redis under ``<prefix>:``, shared by every process using the same URL.

    ``fallback_to_local=True`` makes a limiter decide locally (per process) while Redis is unreachable,
    retrying Redis every ``local_fallback_seconds``; by default an unreachable Redis refuses requests with
    :class:`RateLimitBackendError` (fail closed). ``permit_lease_seconds`` bounds how long a held permit of a
    crashed process keeps counting against rule (c).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "llmteam",
        fallback_to_local: bool = False,
        local_fallback_seconds: float = 5.0,
        permit_lease_seconds: float = 600.0,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
        client: Any = None,
    ) -> None:
        for field_name, value in (
            ("local_fallback_seconds", local_fallback_seconds),
            ("permit_lease_seconds", permit_lease_seconds),
            ("connect_timeout", connect_timeout),
            ("command_timeout", command_timeout),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"RedisRateLimitBackend {field_name}={value!r} must be a number > 0")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"RedisRateLimitBackend prefix={prefix!r} must be a non-empty string")
        self.url = url
        self.prefix = prefix
        self.fallback_to_local = fallback_to_local
        self.local_fallback_seconds = float(local_fallback_seconds)
        self.permit_lease_seconds = float(permit_lease_seconds)
        self.circuit_clock: Clock = time.time  # local views only (retry_after, durations); decisions use TIME
        self.shares_state = True
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._client = client
        self._scripts: dict[str, str] = {}  # resource name -> SHA1 loaded on the server
        self._answered = False

    @property
    def client(self) -> Any:
        """The ``redis.asyncio.Redis`` client, created at first use (no connection until a command runs)."""
        if self._client is None:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._client = redis_from_url(
                self.url,
                socket_connect_timeout=self._connect_timeout,
                socket_timeout=self._command_timeout,
                retry=Retry(NoBackoff(), 0),  # a decision is not idempotent: never replay it blindly
            )
        return self._client

    def key(self, kind: str, name: str, part: str) -> str:
        """``<prefix>:<kind>:{<name>}:<part>``; the hash tag keeps one limit's keys in one cluster slot."""
        return f"{self.prefix}:{kind}:{{{name}}}:{part}"

    async def call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run resource script ``script`` with EVALSHA in one round trip (SCRIPT LOAD first, again on NOSCRIPT)."""
        client = self.client
        sha = self._scripts.get(script)
        if sha is None:
            sha = await self._load(script)
        try:
            return await self.run(client.evalsha(sha, len(keys), *keys, *args))
        except Exception as exc:
            if type(exc).__name__ != "NoScriptError":  # the server restarted or ran SCRIPT FLUSH
                raise
            logger.info("Redis at %s lost script %s; loading it again", redact(self.url), script)
            sha = await self._load(script)
            return await self.run(client.evalsha(sha, len(keys), *keys, *args))

    def script_source(self, script: str) -> str:
        """The Lua text of resource script ``script`` (what :meth:`call` loads on the server)."""
        return _lua(script)

    async def _load(self, script: str) -> str:
        sha: Any = await self.run(self.client.script_load(self.script_source(script)))
        text = sha.decode() if isinstance(sha, bytes) else str(sha)
        self._scripts[script] = text
        return text

    async def run(self, awaitable: Any) -> Any:
        """Await one Redis command, turning connection failures into :class:`RateLimitBackendError`."""
        try:
            result = await awaitable
        except _connection_errors() as exc:
            what = "lost the connection to" if self._answered else "could not reach"
            raise RateLimitBackendError(
                f"rate-limit backend {what} Redis at {redact(self.url)}: {exc}; requests are refused until it "
                "answers (check the URL and the server, or pass fallback_to_local=True)"
            ) from exc
        self._answered = True
        return result

    def limiter_state(self, name: str, config: RateLimitConfig, clock: Clock | None) -> LimiterState:
        return RedisLimiterState(self, name, config, clock)

    def circuit_store(self, name: str, config: CircuitBreakerConfig) -> CircuitStore:
        return RedisCircuitStore(self, name)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._scripts.clear()


class RedisLimiterState(LimiterState):
    """One limit in Redis. Releases are batched into the next decision (or flushed soon after) to keep one trip.

    Decisions use the Redis server's clock only; ``clock`` drives the per-process fallback state alone.
    """

    def __init__(self, backend: RedisRateLimitBackend, name: str, config: RateLimitConfig, clock: Clock | None):
        self._backend = backend
        self._config = config
        self._clock = clock
        self._keys = [backend.key("rl", name, part) for part in ("state", "minute", "hour", "permits")]
        self._params = " ".join(
            [
                repr(float(config.requests_per_second)),
                str(config.burst_size),
                repr(float(config.requests_per_minute)),
                repr(float(config.requests_per_hour)),
                repr(backend.permit_lease_seconds),
                repr(MINUTE_GEOMETRY[0]),
                str(ring_size(*MINUTE_GEOMETRY)),
                repr(HOUR_GEOMETRY[0]),
                str(ring_size(*HOUR_GEOMETRY)),
                str(max(_KEY_TTL, int(backend.permit_lease_seconds) + 1)),
            ]
        )
        self._pending: list[str] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._last = (float(config.burst_size), config.burst_size < 1)
        self._local: MemoryLimiterState | None = None
        self._local_until = 0.0
        self._local_permits: set[str] = set()

    async def decide(self, permit_id: str) -> Decision:
        if self._local is not None and time.monotonic() < self._local_until:
            return self._decide_locally(permit_id)
        releases, self._pending = self._pending, []
        args = [self._params, permit_id, *releases]
        try:
            admitted, wait_text, tokens_text = await self._backend.call("acquire.lua", self._keys, args)
        except asyncio.CancelledError:
            # The caller was cancelled; the script may already have admitted ``permit_id`` on the server. Nobody
            # will hold it here, so release it (a no-op on the server if it was never admitted).
            self._requeue(releases)
            self.release(permit_id)
            raise
        except RateLimitBackendError:
            # The script may have run before the connection broke: release ``permit_id`` too, so that a permit
            # admitted on the server but never seen here is not counted until its lease ends.
            self._requeue([*releases, permit_id])
            if not self._backend.fallback_to_local:
                raise
            logger.warning("Redis rate-limit backend unreachable; deciding locally", exc_info=True)
            if self._local is None:
                self._local = MemoryLimiterState(self._config, self._clock)
            self._local_until = time.monotonic() + self._backend.local_fallback_seconds
            return self._decide_locally(permit_id)
        wait = float(wait_text)
        tokens = float(tokens_text)
        if admitted == 1:
            self._last = (tokens, False)
            return Decision(True, 0.0, tokens)
        self._last = (tokens, True)
        if wait == -1.0:
            return Decision(False, None, tokens)
        return Decision(False, float("inf") if wait == -2.0 else wait, tokens)

    def _decide_locally(self, permit_id: str) -> Decision:
        local = self._local
        assert local is not None
        now = local.clock()
        if local.try_admit(now):
            self._local_permits.add(permit_id)
            return Decision(True, 0.0, local.tokens)
        return Decision(False, local.wait_estimate(now), local.tokens)

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
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        releases, self._pending = self._pending, []
        if not releases:
            return
        try:
            await self._backend.run(self._backend.client.zrem(self._keys[3], *releases))
        except RateLimitBackendError:
            self._requeue(releases)
            logger.warning("could not release %d permit(s) in Redis; retrying with the next call", len(releases))

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
            seconds, micros, raw = await backend.call("circuit_read.lua", [self._key], [])
            snap = CircuitSnapshot() if raw is None else CircuitSnapshot.from_json(raw)
            expected = snap.version
            result = fn(snap, float(seconds) + int(micros) / 1_000_000)
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
