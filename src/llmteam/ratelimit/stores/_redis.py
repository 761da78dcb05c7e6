"""Redis-shared state: one atomic Lua script per admission decision, one round trip, every process agrees.

The Redis client is the process's shared :class:`llmteam.backends.RedisBackend` for the URL (one client and
connection pool per URL, reference-counted: every store on the URL shares it; the last holder closes it). The
scripts are resource files under ``lua/``, run with EVALSHA and re-loaded on NOSCRIPT. A decision is the
hottest Redis call, so it skips the client's per-command machinery: the command is packed once per limit (only
the permit ids change), and sent on a connection this backend keeps checked out of the shared pool (one per
concurrent call), with this backend's own connect and command timeouts. Time always comes from the Redis server
(``TIME`` inside the scripts), so processes on different machines share one clock and no caller's clock (skewed,
or passed as ``clock=``) can move a shared decision; ``clock=`` applies only to the per-process fallback state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

from llmteam._deadline import Deadlines
from llmteam._repr import bounded_repr
from llmteam.backends import RedisBackend, backend_of
from llmteam.backends.redis import RedisClient, RedisConnection, RedisReply, redis_errors

from .._backend import Clock, LimiterState, RateLimitBackend
from .._config import check_number
from .._errors import RateLimitBackendError, RateLimitConfigError
from .._names import check_name
from ._redis_clock import ServerClock
from ._redis_state import RedisCircuitStore, RedisLimiterState
from ._redis_wire import ScriptCall, bulk, lua, redact, reply_text

if TYPE_CHECKING:
    from .._circuit_core import CircuitStore
    from .._config import CircuitBreakerConfig, RateLimitConfig

logger = logging.getLogger(__name__)
# Upper bounds of the seconds settings: a lease (and the fallback period) of at most a day keeps a crashed
# process's permits from counting longer than that, and every key's expiry a small integer for Redis.
MAX_LEASE_SECONDS = 86_400.0
MAX_TIMEOUT_SECONDS = 3_600.0


class RedisOptions(TypedDict, total=False):
    """The keyword arguments of :class:`RedisRateLimitBackend` (for ``backend_from_url(url, **options)``)."""

    prefix: str
    fallback_to_local: bool
    local_fallback_seconds: float
    permit_lease_seconds: float
    connect_timeout: float
    command_timeout: float


class RedisRateLimitBackend(RateLimitBackend):
    """Limiter and breaker state in Redis under ``<prefix>:``, shared by every process using the same URL.

    ``url`` is a ``redis://`` URL (the process's shared backend for it is used) or an open
    :class:`llmteam.backends.RedisBackend` to share. ``fallback_to_local=True`` makes a limiter decide locally
    (per process) while Redis is unreachable, retrying Redis every ``local_fallback_seconds``; by default an
    unreachable Redis refuses requests with :class:`RateLimitBackendError` (fail closed). ``connect_timeout`` and
    ``command_timeout`` bound this backend's calls (a decision is never retried blindly: it is not idempotent).
    ``permit_lease_seconds`` bounds how long a held permit of a crashed process keeps counting against rule (c).
    """

    def __init__(
        self,
        url: str | RedisBackend,
        *,
        prefix: str = "llmteam",
        fallback_to_local: bool = False,
        local_fallback_seconds: float = 5.0,
        permit_lease_seconds: float = 600.0,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
    ) -> None:
        owner = "RedisRateLimitBackend"
        for field_name, value, high in (
            ("local_fallback_seconds", local_fallback_seconds, MAX_LEASE_SECONDS),
            ("permit_lease_seconds", permit_lease_seconds, MAX_LEASE_SECONDS),
            ("connect_timeout", connect_timeout, MAX_TIMEOUT_SECONDS),
            ("command_timeout", command_timeout, MAX_TIMEOUT_SECONDS),
        ):
            check_number(owner, field_name, value, 0.0, high, above=True)
        if not isinstance(fallback_to_local, bool):
            raise RateLimitConfigError(f"{owner}.fallback_to_local={bounded_repr(fallback_to_local)} must be a bool")
        check_name(f"{owner}.prefix", prefix)
        redis_backend = backend_of(url, ("redis",))  # one reference, released by aclose()
        assert isinstance(redis_backend, RedisBackend)
        self.redis = redis_backend
        self.url = redis_backend.url.url
        self.prefix = prefix
        self.fallback_to_local = fallback_to_local
        self.local_fallback_seconds = float(local_fallback_seconds)
        self.permit_lease_seconds = float(permit_lease_seconds)
        self.circuit_clock: Clock = time.time  # local views only (retry_after, durations); decisions use TIME
        self.shares_state = True
        self._connect_timeout = float(connect_timeout)
        self._command_timeout = float(command_timeout)
        self.server_clock = ServerClock()  # places the server's decisions on time.monotonic() (shared by its limits)
        self._scripts: dict[str, bytes] = {}  # resource name -> b"$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n"
        self._idle: list[RedisConnection] = []  # connections checked out of the shared pool, free for the next call
        self._deadlines: Deadlines | None = None  # the timeouts of this backend's calls: one timer, not one per call
        self._errors = redis_errors()  # (redis-py imported here, not on every call)
        self.flushes: set[asyncio.Task[None]] = set()  # releases on their way to Redis (aclose waits for them)
        self._answered = False
        self._closed = False

    @property
    def client(self) -> RedisClient:
        """The shared ``redis.asyncio.Redis`` client of the URL (no connection until a command runs)."""
        return self.redis.client

    def key(self, kind: str, name: str, part: str) -> str:
        """``<prefix>:<kind>:{<name>}:<part>``; the hash tag keeps one limit's keys in one cluster slot."""
        return f"{self.prefix}:{kind}:{{{name}}}:{part}"

    def script_source(self, script: str) -> str:
        """The Lua text of resource script ``script`` (what is loaded on the server)."""
        return lua(script)

    async def call(self, script: str, keys: Sequence[str], args: Sequence[str | int]) -> RedisReply:
        """Run resource script ``script`` with EVALSHA in one round trip (loading it first, again on NOSCRIPT)."""
        return await self.run_script(ScriptCall(script, keys), [str(a) for a in args])

    async def run_script(self, call: ScriptCall, args: Sequence[str]) -> RedisReply:
        """Run a packed script call with trailing ``args`` in one round trip (loading the script on NOSCRIPT)."""
        head = self._scripts.get(call.script) or await self._load(call.script)
        packed = [b"*%d\r\n" % (call.count + len(args)), head, call.fixed, *map(bulk, args)]
        no_script = self._errors.no_script
        try:
            return await self._round_trip(packed)
        except no_script:  # the server restarted or ran SCRIPT FLUSH
            logger.info("Redis at %s lost script %s; loading it again", redact(self.url), call.script)
        packed[1] = await self._load(call.script)
        try:
            return await self._round_trip(packed)
        except no_script as exc:  # gone again at once: a server that keeps no script
            raise self._refused(exc) from exc

    async def command(self, *words: str) -> RedisReply:
        """Run one plain Redis command (``ZREM key id...``) on this backend's connections and timeouts."""
        return await self._round_trip([b"*%d\r\n" % len(words), *map(bulk, words)])

    async def _load(self, script: str) -> bytes:
        sha = await self.command("SCRIPT", "LOAD", self.script_source(script))
        head = bulk("EVALSHA") + bulk(reply_text(sha, "SCRIPT LOAD"))
        self._scripts[script] = head
        return head

    async def _round_trip(self, packed: list[bytes]) -> RedisReply:
        """Send one packed command and read its reply on a checked-out connection: one round trip, no retry.

        An error reply (READONLY after a failover, OOM, a script error, a bad database index) is a
        :class:`RateLimitBackendError` naming it, except NOSCRIPT, raised as it is (:meth:`run_script` reloads).
        """
        if self._closed:
            raise RateLimitBackendError(f"rate-limit backend for Redis at {redact(self.url)} is closed")
        errors = self._errors
        deadlines, loop = self._deadlines, asyncio.get_running_loop()
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = Deadlines(loop)
        conn = self._idle.pop() if self._idle else None
        reusable = False
        try:
            if conn is None or not conn.is_connected:
                conn = await deadlines.run(self._connect(conn), self._connect_timeout)
            with deadlines.bound(self._command_timeout):
                await conn.send_packed_command(packed, check_health=False)
                reply = await conn.read_response()
            reusable = True
        except errors.response as exc:  # a complete error reply: the connection is fine
            reusable = True
            if isinstance(exc, errors.no_script):
                raise
            raise self._refused(exc) from exc
        except errors.connection as exc:  # includes the timeouts above
            raise self._unreachable(exc) from exc
        finally:
            if conn is not None:
                if reusable and not self._closed:
                    self._idle.append(conn)
                else:  # an unread reply may be on the wire (cancelled, timed out): never reuse the socket
                    await conn.disconnect(nowait=True)
                    await self._give_back(conn)
        self._answered = True
        return reply

    async def _connect(self, conn: RedisConnection | None) -> RedisConnection:
        """``conn`` connected again, or (None) a connected connection checked out of the shared pool."""
        if conn is None:
            conn = await self.client.connection_pool.get_connection()  # connected (or given back on failure)
            conn.socket_timeout = None  # while checked out, this backend's deadlines bound its I/O
        else:
            await conn.connect()
        return conn

    async def _give_back(self, conn: RedisConnection) -> None:
        """Return a checked-out connection to the shared pool with the pool's own socket timeout."""
        pool = self.client.connection_pool
        timeout = pool.connection_kwargs.get("socket_timeout")
        conn.socket_timeout = float(timeout) if isinstance(timeout, (int, float)) else None
        await pool.release(conn)

    def _unreachable(self, exc: BaseException) -> RateLimitBackendError:
        what = "lost the connection to" if self._answered else "could not reach"
        return RateLimitBackendError(
            f"rate-limit backend {what} Redis at {redact(self.url)}: {str(exc) or type(exc).__name__}; requests "
            "are refused until it answers (check the URL and the server, or pass fallback_to_local=True)"
        )

    def _refused(self, exc: BaseException) -> RateLimitBackendError:
        return RateLimitBackendError(
            f"Redis at {redact(self.url)} answered the rate-limit call with an error: {str(exc)[:200]!r}; requests "
            "are refused until it accepts it (a replica after failover answers READONLY, a full server OOM; check "
            "the server and the URL's database)"
        )

    def limiter_state(self, name: str, config: RateLimitConfig, clock: Clock | None) -> LimiterState:
        return RedisLimiterState(self, name, config, clock)

    def circuit_store(self, name: str, config: CircuitBreakerConfig) -> CircuitStore:
        return RedisCircuitStore(self, name)

    async def aclose(self) -> None:
        """Send pending releases, give the checked-out connections back and drop this backend's reference to
        the shared client (the last holder of the URL's :class:`RedisBackend` closes it)."""
        if self._closed:
            return
        await asyncio.sleep(0)  # releases made just before: their flushes start now, and finish before closing
        while self.flushes:
            await asyncio.gather(*self.flushes, return_exceptions=True)
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._give_back(conn)
        self._scripts.clear()
        await self.redis.release()
