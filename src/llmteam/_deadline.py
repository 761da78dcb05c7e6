"""Timeouts: :func:`within` (one awaitable, a deadline) and :class:`Deadlines` (many calls, one event-loop timer).

Used by tool calls, the MCP clients, the model clients' streams and the Redis rate-limit backend's round trips.

``asyncio.timeout`` schedules a timer when a call starts and cancels it when the call ends, which is most of what a
timeout costs a call that finishes in time (nearly every call). :class:`Deadlines` keeps the deadlines of the calls
running in one event loop and a single timer at the earliest of them: a call that ends in time only leaves the
table, and the timer, when it fires, cancels every call past its deadline and re-arms at the earliest one left. So a
run whose calls all have the same timeout arms about one timer per timeout period, not one per call.

The semantics are ``asyncio.timeout``'s: an overdue call is cancelled at the await it is waiting on (its ``finally``
blocks run) and the ``CancelledError`` becomes ``TimeoutError``; when the task was also cancelled by someone else,
the ``CancelledError`` propagates instead; the task is left with no pending cancellation of ours either way.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], deadline: float | None) -> T:
    """``await awaitable``, cancelled at event-loop time ``deadline`` with the built-in TimeoutError (None: no
    bound), on every Python: 3.10's ``asyncio.wait_for`` raises ``asyncio.TimeoutError``, not the built-in one
    there, which an ``except TimeoutError`` would miss; it is raised as the built-in one."""
    if deadline is None:
        return await awaitable
    if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10 has no asyncio.timeout_at (run by a test on 3.10)
        try:
            return await asyncio.wait_for(awaitable, max(0.0, deadline - asyncio.get_running_loop().time()))
        except asyncio.TimeoutError:
            raise TimeoutError from None
    async with asyncio.timeout_at(deadline):
        return await awaitable


class _Call:
    """One running call: its task, its deadline (loop time) and whether the timer has cancelled it."""

    __slots__ = ("deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.expired = False


class Deadlines:
    """The running calls of one event loop that have a timeout, and the one timer that enforces them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._running: set[_Call] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    async def run(self, call: Awaitable[T], seconds: float) -> T:
        """``await call``; past ``seconds`` it is cancelled and TimeoutError raised (see the module docstring)."""
        if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10 has no Task.uncancel
            return await within(call, self.loop.time() + seconds)  # asyncio.wait_for, its TimeoutError built-in
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a tool-call timeout must run inside an asyncio task")
        entry = _Call(task, self.loop.time() + seconds)
        self._running.add(entry)
        if self._timer is None or entry.deadline < self._timer_at:
            self._arm(entry.deadline)
        cancelling = task.cancelling()
        try:
            return await call
        except asyncio.CancelledError:
            if entry.expired:
                entry.expired = False  # our cancellation is taken back here, once
                if task.uncancel() <= cancelling:  # nobody else cancelled the task meanwhile: a timeout
                    raise TimeoutError from None
            raise
        finally:
            self._running.discard(entry)
            if entry.expired:  # cancelled by the timer, but the call swallowed it or ended another way
                task.uncancel()

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self.loop.call_at(when, self._fire), when

    def _fire(self) -> None:
        self._timer = None
        now = self.loop.time()
        earliest: float | None = None
        for entry in list(self._running):
            if entry.expired:
                continue
            if entry.deadline <= now:
                entry.expired = True
                entry.task.cancel()
            elif earliest is None or entry.deadline < earliest:
                earliest = entry.deadline
        if earliest is not None:
            self._arm(earliest)

