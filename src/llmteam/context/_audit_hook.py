"""Hands context access events to an audit trail without ever raising, with or without a running event loop."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from typing import Any, NoReturn

__all__ = ["AuditEmitter"]

logger = logging.getLogger(__name__)


class AuditEmitter:
    """Sends ``trail.log(event_type, **fields)`` calls in the background, bounded and failure-proof.

    Under a running loop each event becomes a task that is referenced until done (at most ``MAX_IN_FLIGHT``).
    With no running loop, or too many tasks in flight, the event waits in a queue of at most ``MAX_QUEUED``
    entries and is sent at the next emit under a loop or by ``await flush()``. When the queue is full the oldest
    *ordinary* event is dropped with a logged warning; a *required* event (a sealed export) is never dropped: the
    caller asks ``has_room_for_required()`` first and refuses the export when the queue holds only required
    events. Nothing here raises: a failing trail is logged as a warning.
    """

    MAX_IN_FLIGHT = 256
    MAX_QUEUED = 1024

    __slots__ = ("_queue", "_required", "_tasks", "dropped", "trail")

    def __init__(self, trail: Any) -> None:
        if not callable(getattr(trail, "log", None)):
            raise TypeError(f"audit_trail must have a log(event_type, **fields) method, got {trail!r}")
        self.trail = trail
        self._tasks: set[asyncio.Future[Any]] = set()
        self._queue: deque[tuple[Any, dict[str, Any], bool]] = deque()  # (event type, fields, required)
        self._required = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Events not yet handed over: queued plus in flight."""
        return len(self._queue) + len(self._tasks)

    def has_room_for_required(self) -> bool:
        """True unless the queue is full of required events, so that one more would have to wait unbounded."""
        return self._required < self.MAX_QUEUED

    def emit(self, event_type: Any, *, required: bool = False, **fields: Any) -> None:
        """Send one event to the trail, now or later; never raises. A ``required`` event is never dropped."""
        try:
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._drain(loop)
            if loop is None or self._queue or len(self._tasks) >= self.MAX_IN_FLIGHT:
                self._enqueue(event_type, fields, required)
            else:
                self._send(loop, event_type, fields)
        except Exception:
            logger.warning("audit event %s could not be handed to the trail", _name(event_type), exc_info=True)

    async def flush(self) -> None:
        """Send every queued event and wait for the in-flight ones; errors are logged, not raised."""
        loop = asyncio.get_running_loop()
        while self._queue or self._tasks:
            while self._queue:
                event_type, fields = self._pop()
                try:
                    result = self.trail.log(event_type, **fields)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.warning("audit trail rejected event %s", _name(event_type), exc_info=True)
            mine = [t for t in self._tasks if t.get_loop() is loop]
            if not mine:
                break
            await asyncio.gather(*mine, return_exceptions=True)

    def _enqueue(self, event_type: Any, fields: dict[str, Any], required: bool) -> None:
        if len(self._queue) >= self.MAX_QUEUED:
            victim = next((i for i, entry in enumerate(self._queue) if not entry[2]), None)
            if victim is None and not required:  # only required events wait: the new ordinary one gives way
                self._note_drop(event_type)
                return
            if victim is not None:
                self._note_drop(self._queue[victim][0])
                del self._queue[victim]
            # a required event with no ordinary one to evict still queues: has_room_for_required() bounds them
        self._queue.append((event_type, fields, required))
        self._required += required

    def _note_drop(self, event_type: Any) -> None:
        self.dropped += 1
        logger.warning(
            "audit queue full (%d events waiting for an event loop); dropped the ordinary event %s",
            self.MAX_QUEUED,
            _name(event_type),
        )

    def _pop(self) -> tuple[Any, dict[str, Any]]:
        event_type, fields, required = self._queue.popleft()
        self._required -= required
        return event_type, fields

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._queue and len(self._tasks) < self.MAX_IN_FLIGHT:
            event_type, fields = self._pop()
            self._send(loop, event_type, fields)

    def _send(self, loop: asyncio.AbstractEventLoop, event_type: Any, fields: dict[str, Any]) -> None:
        try:
            result = self.trail.log(event_type, **fields)
        except Exception:
            logger.warning("audit trail rejected event %s", _name(event_type), exc_info=True)
            return
        if not inspect.isawaitable(result):
            return
        task = asyncio.ensure_future(result, loop=loop)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("audit trail failed to record an event", exc_info=task.exception())
        if self._queue:
            self._drain(task.get_loop())

    def __copy__(self) -> AuditEmitter:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AuditEmitter:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SecureAgentContext with an audit trail cannot be pickled; the trail is process-local")

    def __repr__(self) -> str:
        return f"AuditEmitter(trail={type(self.trail).__name__}, pending={self.pending})"


def _name(event_type: Any) -> str:
    return str(getattr(event_type, "value", event_type))
