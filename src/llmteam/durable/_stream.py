"""A durable run's events as a DBOS stream: written by the worker executing the run, read from any process.

The worker publishes each :class:`~llmteam.team.RunEvent` of the run into the DBOS stream ``llmteam.events`` of
its workflow, as plain JSON (DBOS's portable serialisation, never pickle). Events published between steps
(``step_started``, ``step_finished``) are checkpointed writes: a run resumed after a crash does not write them
again. They are held until the run's next step starts (or the stream closes) and written as one stream value, a
JSON list: the last tokens of one agent's answer, its ``step_finished`` and the next agent's ``step_started`` cost
one write, and nothing waits on them in between (the next step starts at once). Events published inside a step
(tool calls, tokens past :data:`TOKEN_CHUNK` characters) are plain appends: a step re-executed after a crash
publishes them again. Tokens are coalesced into chunks of up to :data:`TOKEN_CHUNK` characters, so a run's stream
holds a bounded number of events; the last chunk of a step is held with the events after it, so a crash in the
moment between a model step's checkpoint and that write leaves it out of the stream (the ``step_finished`` event
carries the whole answer). Readers count events, not stream values.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from dbos import DBOS, WorkflowSerializationFormat
from dbos._error import DBOSStreamTimeoutError

from llmteam.durable._errors import DurableError
from llmteam.team import RunEvent

if TYPE_CHECKING:
    from llmteam.durable._control import RunControl

STREAM_KEY = "llmteam.events"
TOKEN_CHUNK = 512  # characters of model tokens per stored event
MAX_TOKEN_EVENTS = 2_000  # token chunks stored per run (about 1 MB of text); later tokens are not streamed
POLL_SECONDS = 0.1

CURRENT: contextvars.ContextVar[EventWriter | None] = contextvars.ContextVar("llmteam_durable_events", default=None)
IN_STEP: contextvars.ContextVar[bool] = contextvars.ContextVar("llmteam_durable_in_step", default=False)


def _plain(event: RunEvent) -> dict[str, Any]:
    """The event as JSON-safe data (anything else in ``data`` becomes its ``str``)."""
    data = json.loads(json.dumps(dict(event.data), default=str))
    return {"kind": event.kind, "agent": event.agent, "step": event.step, "data": data}


class EventWriter:
    """Publishes one run's events into its workflow's stream (one per run, inside the workflow).

    The tokens of the agents named in ``sealed`` (SECRET and TOP_SECRET: their output is sealed) are never
    written: the stream is stored in the system database and read by other processes.
    """

    def __init__(self, sealed: frozenset[str] = frozenset()) -> None:
        self._sealed = sealed
        self._tokens: list[str] = []
        self._size = 0
        self._token_events = 0
        self._agent: str | None = None
        self._step: int | None = None
        self._held: list[dict[str, Any]] = []

    async def publish(self, event: RunEvent) -> None:
        """The team runtime's ``publish`` callback: coalesce tokens, then :meth:`_emit` each event."""
        if event.kind == "token":
            if event.agent in self._sealed:
                return
            text = str(event.data.get("text", ""))
            self._tokens.append(text)
            self._size += len(text)
            self._agent, self._step = event.agent, event.step
            if self._size >= TOKEN_CHUNK:
                await self.flush()
            return
        await self.flush()
        await self._emit(_plain(event))

    async def _emit(self, event: dict[str, Any]) -> None:
        """Inside a step: write it now, after what is held (tokens only, then), as one plain append. Between
        steps: hold it for the next :meth:`release`."""
        self._held.append(event)
        if IN_STEP.get():
            await self._write_held()

    async def release(self) -> None:
        """Before a step starts (from the workflow): write what is held as one checkpointed stream value, if it
        holds more than tokens (held tokens wait for the next event: the end of a step's answer and its
        ``step_finished`` then cost one write). The same writes happen when a resumed run replays."""
        if any(e["kind"] != "token" for e in self._held):
            await self._write_held()

    async def _write_held(self) -> None:
        held, self._held = self._held, []
        await _write(held if len(held) > 1 else held[0])

    async def flush(self) -> None:
        """Emit the tokens buffered so far as one ``token`` event (at the end of every step, too)."""
        if not self._tokens:
            return
        text, self._tokens, self._size = "".join(self._tokens), [], 0
        if self._token_events < MAX_TOKEN_EVENTS:
            self._token_events += 1
            await self._emit({"kind": "token", "agent": self._agent, "step": self._step, "data": {"text": text}})

    async def close(self) -> None:
        """Flush and close the stream: readers stop after the last event."""
        await self.flush()
        if self._held:
            await self._write_held()
        await DBOS.close_stream_async(STREAM_KEY)


async def _write(value: dict[str, Any] | list[dict[str, Any]]) -> None:
    await DBOS.write_stream_async(STREAM_KEY, value, serialization_type=WorkflowSerializationFormat.PORTABLE)


async def flush_current() -> None:
    """Flush the running run's buffered tokens (at the end of the step that produced them)."""
    writer = CURRENT.get()
    if writer is not None:
        await writer.flush()


async def release_current() -> None:
    """Write the running run's held between-step events (before its next step starts)."""
    writer = CURRENT.get()
    if writer is not None:
        await writer.release()


def _events(value: Any) -> list[dict[str, Any]]:
    """The events of one stream value: one event, or a list of them written together."""
    return list(value) if isinstance(value, list) else [value]


async def read_events(control: RunControl, run_id: str, offset: int = 0,
                      timeout: float | None = None) -> AsyncIterator[RunEvent]:
    """The run's events from ``offset``, following it live until it ends (see :meth:`RunControl.stream`)."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise DurableError(f"offset={offset!r} must be an integer >= 0 (the index of the first event to read)")
    if timeout is not None and not timeout > 0:
        raise DurableError(f"timeout={timeout!r} must be a number of seconds > 0, or None to wait without limit")
    await control.status(run_id)  # an unknown run fails here, clearly
    values = control.client.read_stream_async(run_id, STREAM_KEY, offset=0, polling_interval_sec=POLL_SECONDS,
                                              timeout_seconds=timeout)
    skip = offset  # an offset counts events; a stream value may hold several
    try:
        async for value in values:
            for event in _events(value):
                if skip:
                    skip -= 1
                    continue
                yield RunEvent(str(event["kind"]), run_id, event.get("agent"), event.get("step"),
                               event.get("data") or {})
    except DBOSStreamTimeoutError:
        raise DurableError(f"run {run_id!r} published no event within {timeout}s; it may be queued or paused "
                           "(`llmteam runs show` to see where it is)") from None
    finally:
        await values.aclose()
    status = await control.status(run_id)
    if status.status not in ("SUCCESS", "ERROR", "PENDING"):  # PENDING: closed its stream, finishing now
        raise DurableError(f"the event stream of run {run_id!r} ended while the run is {status.status}")
    result = await control.result(run_id, timeout)  # a failed run raises RunFailedError with its own error
    yield RunEvent("run_finished", run_id, data={"usage": result.usage.to_dict(), "output": result.output},
                   result=result)
