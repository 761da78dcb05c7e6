"""Hands context access events to an audit trail without ever raising, with or without a running event loop."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections import deque
from datetime import datetime
from typing import Any, NoReturn

from llmteam.audit import AuditEventType, AuditSeverity

__all__ = ["AuditEmitter"]

logger = logging.getLogger(__name__)

_Entry = tuple[Any, dict[str, Any], bool, contextvars.Context]  # event type, fields, required, emitter's context
_Loop = asyncio.AbstractEventLoop
_Ctx = contextvars.Context | None  # None: call the trail in the current context


class AuditEmitter:
    """Sends ``trail.log(event_type, **fields)`` calls in the background, bounded and failure-proof.

    Under a running loop each event becomes a task that is referenced until done (at most ``MAX_IN_FLIGHT``).
    With no running loop, or too many tasks in flight, the event waits in a queue and is sent at the next emit
    under a loop or by ``await flush()``, in the context (tenant) it was emitted in. The queue holds at most
    ``MAX_QUEUED`` *ordinary* events (views, checks) and, apart, ``MAX_QUEUED`` *required* ones (anything about
    sealed data):

    - past its budget a new ordinary event is dropped (the newest noise, never an older record), counted in
      ``dropped`` and reported to the trail as one ``audit_events_dropped`` record once the queue has room;
    - a required event is never dropped. Callers about to release a sealed value ask ``has_room_for_required()``
      first and refuse when there is none (fail closed). A required event that still finds no room (a denial:
      the caller is refused anyway) is merged into a tally per (tenant, event, actor, action, resource), at most
      ``MAX_MERGED`` of them plus one per tenant, event and action for every further actor, and recorded as one event
      with ``metadata["repeats"]`` once there is room; ``merged`` counts them.

    Nothing here raises: a failing trail is logged as a warning.
    """

    MAX_IN_FLIGHT = 256
    MAX_QUEUED = 1024
    MAX_MERGED = 256

    __slots__ = ("_lost", "_queue", "_required", "_tally", "_tasks", "dropped", "merged", "trail")

    def __init__(self, trail: Any) -> None:
        if not callable(getattr(trail, "log", None)):
            raise TypeError(f"audit_trail must have a log(event_type, **fields) method, got {trail!r}")
        self.trail = trail
        self._tasks: set[asyncio.Future[Any]] = set()
        self._queue: deque[_Entry] = deque()
        self._required = 0
        self._tally: dict[tuple[Any, ...], list[Any]] = {}  # key -> [event type, fields, count, first, last, ctx]
        self._lost: list[Any] = []  # unreported drops: [count, fields of the first, its context]
        self.dropped = 0
        self.merged = 0

    @property
    def pending(self) -> int:
        """Records not yet handed over: queued, in flight, merged tallies and an unreported drop count."""
        return len(self._queue) + len(self._tasks) + len(self._tally) + bool(self._lost)

    def has_room_for_required(self) -> bool:
        """True while a required event can still be queued as a record of its own."""
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
                self._send(loop, event_type, fields, None)
        except Exception:
            logger.warning("audit event %s could not be handed to the trail", _name(event_type), exc_info=True)

    async def flush(self) -> None:
        """Send every queued event and wait for the in-flight ones; errors are logged, not raised."""
        loop = asyncio.get_running_loop()
        while self._queue or self._tasks:
            while self._queue:
                event_type, fields, _, context = self._pop()
                try:
                    result = self._start(loop, event_type, fields, context)
                    if result is not None:
                        await result
                except Exception:
                    logger.warning("audit trail rejected event %s", _name(event_type), exc_info=True)
            mine = [t for t in self._tasks if t.get_loop() is loop]
            if not mine:
                break
            await asyncio.gather(*mine, return_exceptions=True)

    # --- the queue -----------------------------------------------------------------------------------------

    def _enqueue(self, event_type: Any, fields: dict[str, Any], required: bool) -> None:
        if required and self._required >= self.MAX_QUEUED:
            self._merge(event_type, fields)
        elif required or len(self._queue) - self._required < self.MAX_QUEUED:
            self._queue.append((event_type, fields, required, contextvars.copy_context()))
            self._required += required
        else:
            self.dropped += 1
            if self._lost:
                self._lost[0] += 1
                return
            self._lost = [1, fields, contextvars.copy_context()]
            logger.warning(
                "audit queue full (%d ordinary events waiting for an event loop); dropping further views and "
                "checks (first: %s) until it drains; events about sealed data are kept",
                self.MAX_QUEUED,
                _name(event_type),
            )

    def _merge(self, event_type: Any, fields: dict[str, Any]) -> None:
        from llmteam.tenancy import current_tenant  # only on overflow: keeps tenancy out of context's import

        tenant, action = current_tenant.get(), fields.get("action")
        key: tuple[Any, ...] = (tenant, event_type, fields.get("actor_id"), action, fields.get("resource_id"))
        if key not in self._tally and len(self._tally) >= self.MAX_MERGED:
            key = (tenant, event_type, "*", action, "*")  # one more tally per tenant, event and action, no more
            fields = {**fields, "actor_id": "*", "resource_id": "*", "error_message": (
                f"merged: more than {self.MAX_MERGED} distinct actors or resources; the first of these: "
                f"{fields.get('error_message', '')}"
            )}
        now = datetime.now()
        entry = self._tally.get(key)
        if entry is None:
            if not self._tally:
                logger.warning(
                    "audit queue holds %d events about sealed data waiting for an event loop; further ones are "
                    "merged into counted records until it drains (await flush_audit())",
                    self.MAX_QUEUED,
                )
            self._tally[key] = [event_type, fields, 1, now, now, contextvars.copy_context()]
        else:
            entry[2] += 1
            entry[4] = now
        self.merged += 1

    def _pop(self) -> _Entry:
        entry = self._queue.popleft()
        self._required -= entry[2]
        if self._required < self.MAX_QUEUED:  # the freed slot takes a merged tally or the drop report
            if self._tally:
                event_type, fields, count, first, last, context = self._tally.pop(next(iter(self._tally)))
                metadata = {**fields.get("metadata", {}), "repeats": count}
                metadata.update(first_seen=first.isoformat(), last_seen=last.isoformat())
                self._queue.append((event_type, {**fields, "metadata": metadata}, True, context))
                self._required += 1
            elif self._lost:
                self._queue.append(self._drop_report())
                self._required += 1
        return entry

    def _drop_report(self) -> _Entry:
        count, first, context = self._lost
        self._lost = []
        fields = {
            "severity": AuditSeverity.WARNING,
            "actor_type": "system",
            "actor_id": "",
            "action": "audit_events_dropped",
            "resource_type": first.get("resource_type", ""),
            "resource_id": first.get("resource_id", ""),
            "success": False,
            "error_message": (
                f"{count} ordinary audit events (views, access checks) were dropped: {self.MAX_QUEUED} were "
                "already waiting for an event loop"
            ),
            "agent_name": first.get("agent_name", ""),
            "metadata": {**first.get("metadata", {}), "dropped": count},
        }
        return (AuditEventType.ACTION_FAILED, fields, True, context)

    # --- sending -------------------------------------------------------------------------------------------

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._queue and len(self._tasks) < self.MAX_IN_FLIGHT:
            event_type, fields, _, context = self._pop()
            self._send(loop, event_type, fields, context)

    def _start(self, loop: _Loop, event_type: Any, fields: dict[str, Any], context: _Ctx) -> asyncio.Future[Any] | None:
        """Call ``trail.log`` in ``context`` (the emitter's, for a queued event); its awaitable as a task."""
        if context is not None:  # a task made inside run() copies this context: the record keeps its tenant
            return context.run(self._start, loop, event_type, fields, None)
        result = self.trail.log(event_type, **fields)
        return asyncio.ensure_future(result, loop=loop) if inspect.isawaitable(result) else None

    def _send(self, loop: _Loop, event_type: Any, fields: dict[str, Any], context: _Ctx) -> None:
        try:
            task = self._start(loop, event_type, fields, context)
        except Exception:
            logger.warning("audit trail rejected event %s", _name(event_type), exc_info=True)
            return
        if task is not None:
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
