"""Timeouts: :func:`within` (one awaitable, a deadline) and :class:`Deadlines` (many calls, one event-loop timer).

Used by tool calls, the MCP clients, the model clients' streams and the Redis rate-limit backend's round trips.

``asyncio.timeout`` schedules a timer when a call starts and cancels it when the call ends, which is most of what a
timeout costs a call that finishes in time (nearly every call). :class:`Deadlines` keeps the deadlines of the calls
running in one event loop and a single timer at the earliest of them: a call that ends in time only leaves the
table, and the timer, when it fires, cancels every call past its deadline and re-arms at the earliest one left. So a
run whose calls all have the same timeout arms about one timer per timeout period, not one per call. ``with
deadlines.bound(seconds):`` bounds the awaits of a block; ``await deadlines.run(call, seconds)`` one awaitable.

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
# the message of the timer's cancellations on Python 3.10, which has no Task.uncancel to tell them from others
_EXPIRED = "llmteam._deadline: past its deadline"


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
    """One running call: a synchronous context manager around its awaits (see :meth:`Deadlines.bound`)."""

    __slots__ = ("cancelling", "deadline", "expired", "table", "task")

    def __init__(self, table: Deadlines, task: asyncio.Task[Any], deadline: float) -> None:
        self.table = table
        self.task = task
        self.deadline = deadline  # loop time
        self.expired = False  # the timer has cancelled the task for this call
        self.cancelling = 0

    def __enter__(self) -> None:
        table = self.table
        table._running.add(self)
        if table._timer is None or self.deadline < table._timer_at:
            table._arm(self.deadline)
        if sys.version_info >= (3, 11):  # Task.cancelling/uncancel tell our cancellation from anybody else's
            self.cancelling = self.task.cancelling()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.table._running.discard(self)
        if self.expired:  # cancelled by the timer: our cancellation is taken back here, once
            self.expired = False
            remaining = 0
            if sys.version_info >= (3, 11):
                remaining = self.task.uncancel()
            elif exc is None or exc.args[:1] != (_EXPIRED,):  # 3.10 counts no cancellations: ours carries _EXPIRED,
                remaining = 1  # one from elsewhere (say, while the call's cleanup awaited) does not
            # a timeout, unless somebody else cancelled the task meanwhile (or the call swallowed the cancellation)
            if remaining <= self.cancelling and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                raise TimeoutError from None


class Deadlines:
    """The running calls of one event loop that have a timeout, and the one timer that enforces them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._running: set[_Call] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def bound(self, seconds: float) -> _Call:
        """``with deadlines.bound(s): await ...``: the awaits in the block are cancelled ``s`` seconds from now and
        TimeoutError raised (see the module docstring); no coroutine of its own, unlike :meth:`run`."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timeout must run inside an asyncio task")
        return _Call(self, task, self.loop.time() + seconds)

    async def run(self, call: Awaitable[T], seconds: float) -> T:
        """``await call``; past ``seconds`` it is cancelled and TimeoutError raised (see the module docstring)."""
        with self.bound(seconds):
            return await call

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
                if sys.version_info >= (3, 11):
                    entry.task.cancel()
                else:
                    entry.task.cancel(_EXPIRED)
            elif earliest is None or entry.deadline < earliest:
                earliest = entry.deadline
        if earliest is not None:
            self._arm(earliest)

