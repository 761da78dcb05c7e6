"""Per-agent timeouts with one loop timer: running jobs are queued in start order, so deadlines are FIFO."""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable

from llmteam.execution._jobs import Job

_EPSILON = 1e-3  # the loop may run a timer up to one clock tick early


class DeadlineQueue:
    """Calls ``on_expire(job)`` for each unfinished job whose deadline passed; O(1) per job, one TimerHandle."""

    def __init__(self, on_expire: Callable[[Job], None]) -> None:
        self._on_expire = on_expire
        self._items: deque[tuple[float, Job]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._compact_at = 256

    def add(self, loop: asyncio.AbstractEventLoop, deadline: float, job: Job) -> None:
        """Track ``job`` until it finishes or ``deadline`` (loop time) passes."""
        if self._timer_loop is not loop:
            self._reset(loop)
        items = self._items
        if items and deadline < items[-1][0]:  # task_timeout was lowered meanwhile: give it its own timer
            job.timer = loop.call_at(deadline, self._expire_one, job)
            return
        items.append((deadline, job))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._fire, loop)

    def prune(self) -> None:
        """Drop finished jobs at the head; compact when finished jobs pile up behind a long-running one."""
        items = self._items
        while items and items[0][1].finished:
            items.popleft()
        if not items:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif len(items) > self._compact_at:
            self._items = deque(item for item in items if not item[1].finished)
            self._compact_at = max(256, 2 * len(self._items))

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_loop = loop
        self._items = deque(item for item in self._items if not item[1].finished)

    def _expire_one(self, job: Job) -> None:
        if not job.finished:
            self._on_expire(job)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        limit = loop.time() + _EPSILON
        while self._items and (self._items[0][1].finished or self._items[0][0] <= limit):
            job = self._items.popleft()[1]
            if not job.finished:
                self._on_expire(job)  # may prune/compact self._items: always re-read it
        if self._items and self._timer is None:
            self._timer = loop.call_at(self._items[0][0], self._fire, loop)


def uuid4_strings(count: int) -> list[str]:
    """``count`` random UUID4 strings (same format as ``str(uuid.uuid4())``), from one urandom call."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])
    h = raw.hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, 32 * count, 32)]
