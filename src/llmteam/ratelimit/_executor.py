"""``RateLimitedExecutor`` (contract §6.4): calls endpoints through a limiter, an optional breaker and retries."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmteam.licensing import LicenseTier, check_builtin_gate

from ._backend import RateLimitBackend
from ._circuit import CircuitBreaker
from ._config import CircuitBreakerConfig, RateLimitConfig, RateLimitStrategy, check_integer
from ._errors import RateLimitError, TooManyEndpointsError
from ._limiter import RateLimiter
from ._names import make_room
from ._registry import resolve_backend
from ._stats import CircuitBreakerStats, RateLimiterStats

logger = logging.getLogger(__name__)


@dataclass
class ExecutionResult:
    """Outcome of one ``execute`` call: the value or the last error, attempts, and why it was refused if it was."""

    success: bool
    value: Any = None
    error: Exception | None = None
    attempts: int = 1
    total_time_ms: int = 0
    rate_limited: bool = False
    circuit_open: bool = False
    used_fallback: bool = False


@dataclass
class EndpointStats:
    """Counters of one endpoint, with its limiter's and breaker's statistics."""

    rate_limiter: RateLimiterStats = field(default_factory=RateLimiterStats)
    circuit_breaker: CircuitBreakerStats = field(default_factory=CircuitBreakerStats)
    total_executions: int = 0
    successful_executions: int = 0
    failed_executions: int = 0
    fallback_executions: int = 0
    total_retries: int = 0


@dataclass(eq=False)
class _Endpoint:
    limiter: RateLimiter
    breaker: CircuitBreaker | None
    stats: EndpointStats
    users: int = 0  # the execute() calls running on it (each counts itself out in a finally, even when cancelled)

    def is_fresh(self) -> bool:
        """True when forgetting this endpoint changes no decision: its limit lives in a backend that keeps it, or
        its private state would decide like a new one (no permit held, bucket full, windows empty)."""
        local = self.limiter._local
        return self.limiter.backend is not None or local is None or local.is_fresh()


class RateLimitedExecutor:
    """Runs callables per named endpoint under rate limits, circuit breakers and retries with backoff.

    ``backend`` (keyword-only) is handed to every limiter and breaker it creates (e.g. a shared Redis backend).
    Endpoints that ``execute`` registers on its own are at most ``max_auto_endpoints``, so callers choosing many
    names cannot grow it without bound: an idle one whose forgetting changes no decision makes room, least
    recently used first; when none does, a new name is refused (:class:`TooManyEndpointsError`) rather than a busy
    endpoint's limit reset. ``register`` ed endpoints always stay and are never refused.
    """

    def __init__(
        self,
        default_config: RateLimitConfig | None = None,
        *,
        run_sync_in_thread: bool = True,
        backend: RateLimitBackend | str | None = None,
        max_auto_endpoints: int = 10_000,
    ) -> None:
        check_builtin_gate("RateLimitedExecutor", LicenseTier.PROFESSIONAL)
        check_integer("RateLimitedExecutor", "max_auto_endpoints", max_auto_endpoints, 1)
        if default_config is not None and not isinstance(default_config, RateLimitConfig):
            raise TypeError(f"default_config={default_config!r} must be a RateLimitConfig or None")
        self.default_config = default_config or RateLimitConfig()
        self.run_sync_in_thread = run_sync_in_thread
        self.backend = resolve_backend(backend)
        self._endpoints: dict[str, _Endpoint] = {}
        self.max_auto_endpoints = max_auto_endpoints
        self._auto: OrderedDict[str, _Endpoint] = OrderedDict()  # auto-registered ones, least recently used first

    def register(
        self,
        name: str,
        rate_config: RateLimitConfig | None = None,
        circuit_config: CircuitBreakerConfig | None = None,
    ) -> None:
        """Create (or replace) the limiter, optional breaker and statistics of endpoint ``name``."""
        limiter = RateLimiter(name, rate_config or self.default_config, backend=self.backend)
        breaker = None if circuit_config is None else CircuitBreaker(name, circuit_config, backend=self.backend)
        self._endpoints[name] = _Endpoint(limiter, breaker, EndpointStats())
        self._auto.pop(name, None)

    def unregister(self, name: str) -> None:
        """Forget endpoint ``name`` (no-op if unknown)."""
        self._endpoints.pop(name, None)
        self._auto.pop(name, None)

    def _endpoint(self, name: str) -> _Endpoint:
        endpoint = self._endpoints.get(name)
        auto = self._auto
        if endpoint is None:
            if len(auto) >= self.max_auto_endpoints:
                for gone in make_room(auto, self.max_auto_endpoints - 1):
                    del self._endpoints[gone]
                if len(auto) >= self.max_auto_endpoints:  # every one still matters: refuse, never forget one
                    raise TooManyEndpointsError(name, self.max_auto_endpoints)
            self.register(name)
            endpoint = auto[name] = self._endpoints[name]
        elif name in auto:
            auto.move_to_end(name)
        return endpoint

    async def execute(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> ExecutionResult:
        """Call ``func`` for endpoint ``name`` (auto-registered if new) under its limits; never raises for it."""
        try:
            endpoint = self._endpoint(name)
        except TooManyEndpointsError as exc:
            return await self._refused(self.default_config, exc, 1, time.monotonic())
        stats = endpoint.stats
        stats.total_executions += 1
        endpoint.users += 1  # in use: never forgotten while it runs
        try:
            result = await self._run(endpoint, func, args, kwargs)
        finally:
            endpoint.users -= 1
        stats.total_retries += result.attempts - 1
        if result.used_fallback:
            stats.fallback_executions += 1
        if result.success and not result.used_fallback:
            stats.successful_executions += 1
        elif not result.success:
            stats.failed_executions += 1
        return result

    async def _run(
        self, endpoint: _Endpoint, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ExecutionResult:
        limiter, breaker = endpoint.limiter, endpoint.breaker
        config = limiter.config
        start = time.monotonic()
        attempts = config.retry_count + 1
        last_error: Exception | None = None
        for n in range(1, attempts + 1):
            if breaker is not None:
                try:
                    await breaker.allow_request()
                except RateLimitError as exc:  # open, or its shared state unreachable: refused (fail closed)
                    return await self._refused(config, exc, n, start, circuit=True)
            try:
                admitted = await limiter.acquire()
            except RateLimitError as exc:  # RateLimitExceeded, QueueFullError, backend unreachable
                return await self._refused(config, exc, n, start)
            if not admitted:
                return await self._fallback(config, n, start)
            permit = _Permit(limiter)
            try:
                value = await self._call(func, args, kwargs, permit)
            except Exception as exc:
                permit.release()
                last_error = exc
                if breaker is not None:
                    await _record(breaker, succeeded=False)
                if n < attempts:
                    await asyncio.sleep(config.get_retry_delay(n - 1))
                continue
            except BaseException:
                permit.release()  # cancelled while a worker thread still calls the endpoint: when that returns
                raise
            permit.release()
            if breaker is not None:
                await _record(breaker, succeeded=True)
            return ExecutionResult(True, value=value, attempts=n, total_time_ms=_ms(start))
        return ExecutionResult(False, error=last_error, attempts=attempts, total_time_ms=_ms(start))

    async def _call(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], permit: _Permit
    ) -> Any:
        if inspect.iscoroutinefunction(func):
            return await func(*args, **kwargs)
        if self.run_sync_in_thread:
            result = await _in_thread(func, args, kwargs, permit)
        else:
            result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _refused(
        self, config: RateLimitConfig, exc: RateLimitError, attempts: int, start: float, *, circuit: bool = False
    ) -> ExecutionResult:
        """A refused attempt: the fallback under FALLBACK, else a failed result saying which guard refused it."""
        if config.strategy is RateLimitStrategy.FALLBACK:
            return await self._fallback(config, attempts, start)
        return ExecutionResult(
            False, error=exc, attempts=attempts, rate_limited=not circuit, circuit_open=circuit,
            total_time_ms=_ms(start),
        )

    async def _fallback(self, config: RateLimitConfig, attempts: int, start: float) -> ExecutionResult:
        try:
            if config.fallback_handler is None:
                value = config.fallback_value
            else:
                value = config.fallback_handler()
                if inspect.isawaitable(value):
                    value = await value
        except Exception as exc:
            return ExecutionResult(False, error=exc, attempts=attempts, used_fallback=True, total_time_ms=_ms(start))
        return ExecutionResult(True, value=value, attempts=attempts, used_fallback=True, total_time_ms=_ms(start))

    def get_stats(self, name: str | None = None) -> dict[str, EndpointStats]:
        """Statistics of one endpoint (``{name: stats}``, empty if unknown) or of all of them."""
        names = list(self._endpoints) if name is None else [name] if name in self._endpoints else []
        out: dict[str, EndpointStats] = {}
        for key in names:
            endpoint = self._endpoints[key]
            stats = endpoint.stats
            out[key] = EndpointStats(
                rate_limiter=endpoint.limiter.get_stats(),
                circuit_breaker=endpoint.breaker.get_stats() if endpoint.breaker else CircuitBreakerStats(),
                total_executions=stats.total_executions,
                successful_executions=stats.successful_executions,
                failed_executions=stats.failed_executions,
                fallback_executions=stats.fallback_executions,
                total_retries=stats.total_retries,
            )
        return out

    def reset_stats(self, name: str | None = None) -> None:
        """Zero the statistics of one endpoint or of all, including their limiters' and breakers'."""
        for key in list(self._endpoints) if name is None else [name]:
            endpoint = self._endpoints.get(key)
            if endpoint is None:
                continue
            endpoint.stats = EndpointStats()
            endpoint.limiter.reset_stats()
            if endpoint.breaker is not None:
                endpoint.breaker.reset_stats()

    def is_healthy(self, name: str) -> bool:
        """True when the endpoint's breaker (if any) is CLOSED and its limiter is not limited right now."""
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            return True
        if endpoint.breaker is not None and not endpoint.breaker.is_closed:
            return False
        return not endpoint.limiter.is_limited

    def get_health_status(self) -> dict[str, dict[str, Any]]:
        """``{name: {"healthy", "circuit_state", "rate_limited"}}`` for every registered endpoint."""
        status: dict[str, dict[str, Any]] = {}
        for key, endpoint in self._endpoints.items():
            limited = endpoint.limiter.is_limited
            breaker = endpoint.breaker
            status[key] = {
                "healthy": (breaker is None or breaker.is_closed) and not limited,
                "circuit_state": breaker.state.value if breaker is not None else "n/a",
                "rate_limited": limited,
            }
        return status


class _Permit:
    """The permit of one attempt, released exactly once: now, or when the worker thread still running the call
    returns (a thread cannot be cancelled, and until it returns it is calling the endpoint)."""

    __slots__ = ("_held", "_limiter", "_pending")

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self._held = True
        self._pending: asyncio.Future[Any] | None = None  # the thread's future, while the permit waits for it

    def release(self) -> None:
        if self._held and self._pending is None:
            self._held = False
            self._limiter.release()

    def release_when_done(self, thread: asyncio.Future[Any]) -> None:
        self._pending = thread
        thread.add_done_callback(self._thread_done)

    def _thread_done(self, thread: asyncio.Future[Any]) -> None:
        if not thread.cancelled():
            thread.exception()  # nobody awaits it any more: mark its error (if any) as seen
        self._pending = None
        self.release()


async def _in_thread(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], permit: _Permit) -> Any:
    """``asyncio.to_thread(func, ...)``, except that a cancelled caller leaves ``permit`` held until the thread
    returns; the cancellation itself goes on at once."""
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    thread = asyncio.get_running_loop().run_in_executor(None, call)
    try:
        return await asyncio.shield(thread)
    except asyncio.CancelledError:
        permit.release_when_done(thread)
        raise


async def _record(breaker: CircuitBreaker, *, succeeded: bool) -> None:
    """Report a call's result to its breaker; if the breaker's state cannot be reached, log it and go on: the
    call has happened, and its result (or its retry) must not be lost to the bookkeeping."""
    outcome = "success" if succeeded else "failure"
    try:
        await (breaker.record_success() if succeeded else breaker.record_failure())
    except RateLimitError:
        logger.warning("circuit breaker %r could not record a %s; the call's outcome stands", breaker.name, outcome,
                       exc_info=True)


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
