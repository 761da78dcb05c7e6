"""The threads blocking (sync) tool functions run on: the tools' own, a bounded share per tenant.

A sync function past its timeout cannot be stopped: its call is abandoned, but its thread runs on until the
function returns. Run on the event loop's default executor, forty such calls of one tenant would take every
thread the loop has for SQLite reads, DBOS and file scans, stalling every tenant. So blocking tool functions run
on a pool of their own (:data:`MAX_TOOL_THREADS` threads), and at most :data:`PER_TENANT` of a tenant's functions
run at once, counted until each *function* returns (not until its call is abandoned). A call beyond a tenant's
share waits for one of its own threads, within the call's timeout; other tenants never wait for it.

Governance names the tenant (:func:`tenant_scope`); a sync tool invoked outside governance runs as tenant ``""``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MAX_TOOL_THREADS = 64
PER_TENANT = 16

_TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("llmteam_tool_tenant", default="")


@contextlib.contextmanager
def tenant_scope(tenant: str) -> Iterator[None]:
    """Blocking tool functions called inside count against ``tenant``'s share of the threads."""
    token = _TENANT.set(tenant)
    try:
        yield
    finally:
        _TENANT.reset(token)


class ToolThreads:
    """A thread pool for blocking tool functions with a per-tenant bound on the functions running."""

    def __init__(self, max_threads: int = MAX_TOOL_THREADS, per_tenant: int = PER_TENANT) -> None:
        self.max_threads = max_threads
        self.per_tenant = per_tenant
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._running: dict[str, int] = {}  # only tenants with a function running: bounded by the threads
        self._waiting: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def running(self, tenant: str) -> int:
        """How many of ``tenant``'s functions are running now (abandoned calls' included)."""
        with self._lock:
            return self._running.get(tenant, 0)

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a tool thread, as the current tenant (:func:`tenant_scope`), once it has a free share."""
        tenant, loop = _TENANT.get(), asyncio.get_running_loop()
        await self._take(tenant, loop)
        try:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.max_threads, thread_name_prefix="llmteam-tool")
                done: Future[T] = self._pool.submit(contextvars.copy_context().run, fn)
        except BaseException:
            self._give_back(tenant)
            raise
        done.add_done_callback(lambda _: self._give_back(tenant))  # when the function returns, whoever waits
        return await asyncio.wrap_future(done, loop=loop)

    async def _take(self, tenant: str, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._lock:
                if self._running.get(tenant, 0) < self.per_tenant:
                    self._running[tenant] = self._running.get(tenant, 0) + 1
                    return
                entry = (loop, asyncio.Event())
                self._waiting.setdefault(tenant, []).append(entry)
            try:
                await entry[1].wait()
            finally:
                with self._lock:
                    waiters = self._waiting.get(tenant, [])
                    if entry in waiters:  # cancelled (the call's timeout) before a thread came free
                        waiters.remove(entry)
                    if not waiters:
                        self._waiting.pop(tenant, None)

    def _give_back(self, tenant: str) -> None:
        """One of ``tenant``'s functions returned (any thread): free its share, wake its waiters to retry."""
        with self._lock:
            left = self._running.get(tenant, 0) - 1
            if left > 0:
                self._running[tenant] = left
            else:
                self._running.pop(tenant, None)
            waiters = self._waiting.pop(tenant, [])
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that event loop has closed: nobody waits there any more
                loop.call_soon_threadsafe(event.set)


TOOL_THREADS = ToolThreads()
