"""The events of in-process runs, kept so that any number of clients can follow a run as server-sent events.

A run publishes into its :class:`RunEvents`; subscribers replay from an index and then follow live. Each run
keeps its newest ``MAX_EVENTS`` events; finished runs are kept for the newest ``MAX_FINISHED`` runs only.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator
from typing import Any

MAX_EVENTS = 2000
MAX_FINISHED = 256


def sse(event: str, data: dict[str, Any], index: int | None = None) -> bytes:
    """One server-sent event; JSON never holds a raw newline, so a value cannot start a field of its own."""
    head = "" if index is None else f"id: {index}\n"
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


class RunEvents:
    """One run's published events (bounded) and whether it has ended."""

    def __init__(self) -> None:
        self.items: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=MAX_EVENTS)
        self.count = 0
        self.ended = False
        self._changed = asyncio.Condition()

    async def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Append one event and wake the subscribers."""
        async with self._changed:
            self.items.append((self.count, kind, data))
            self.count += 1
            self._changed.notify_all()

    async def end(self) -> None:
        """No more events will come."""
        async with self._changed:
            self.ended = True
            self._changed.notify_all()

    async def follow(self, offset: int = 0) -> AsyncGenerator[tuple[int, str, dict[str, Any]], None]:
        """(index, kind, data) from ``offset`` (or the oldest kept), then live until the run ends."""
        index = max(0, offset)
        while True:
            async with self._changed:
                while self.count <= index and not self.ended:
                    await self._changed.wait()
                batch = [item for item in self.items if item[0] >= index]
                ended = self.ended
            for item in batch:
                yield item
                index = item[0] + 1
            if ended and index >= self.count:
                return


class EventBoard:
    """Run id -> its events: every in-flight run, and the newest MAX_FINISHED finished ones."""

    def __init__(self) -> None:
        self.live: dict[str, RunEvents] = {}
        self.finished: OrderedDict[str, RunEvents] = OrderedDict()

    def open(self, run_id: str) -> RunEvents:
        events = self.live[run_id] = RunEvents()
        return events

    def close(self, run_id: str) -> None:
        events = self.live.pop(run_id, None)
        if events is not None:
            self.finished[run_id] = events
            while len(self.finished) > MAX_FINISHED:
                self.finished.popitem(last=False)

    def get(self, run_id: str) -> RunEvents | None:
        return self.live.get(run_id) or self.finished.get(run_id)
