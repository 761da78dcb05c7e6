"""``RunControl``: inspect, wait for, cancel and resume durable runs from any process, through DBOS's client.

It talks to the DBOS system database only (no team, no stores), so ``llmteam runs`` works beside any worker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dbos import DBOSClient

from llmteam.backends import validate_identifier
from llmteam.durable._engine import POLL_SECONDS, WORKFLOW_NAME, DurableError
from llmteam.durable._stream import read_events
from llmteam.team import RunEvent, RunResult

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is 1-128 letters, digits or ``_.:-`` (not first); else a clear error."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise DurableError(f"run id {run_id!r} must be 1-128 letters, digits, '_', '.', ':' or '-', starting "
                           "with a letter or digit")
    return run_id


def system_db_for(url: str) -> str:
    """The DBOS system database beside the stores at ``url``: ``x.db`` -> ``x.dbos.db``; PostgreSQL: the same."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        stem = path[:-3] if path.endswith(".db") else path
        return f"sqlite:///{stem}.dbos.db"
    if url.startswith(("postgresql://", "postgres://")):
        return url.split("?", 1)[0]  # DBOS takes a plain URL; its tables live in their own schema
    raise DurableError(f"durable runs need a database, not {url!r}; use sqlite:///path.db or postgresql://...")


@contextmanager
def db_errors(system_db: str) -> Iterator[None]:
    """Turn a failure of the DBOS system database into a DurableError naming it (password hidden)."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        try:
            shown = sa.make_url(system_db).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            shown = "(unparseable URL)"
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
        raise DurableError(f"DBOS system database {shown} failed: {reason}; check --db/--system-db, and start a "
                           "worker or submit a run first to create it") from None


@dataclass(frozen=True)
class RunStatus:
    """Where a durable run is: DBOS status (ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED, ...) and its queue."""

    run_id: str
    status: str
    queue: str | None
    tenant: str | None
    executor: str | None
    attempts: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return dict(self.__dict__)


class RunControl:
    """Durable runs seen from outside a worker; use ``async with RunControl(system_db) as runs``.

    ``system_schema`` is the PostgreSQL schema of DBOS's tables (default ``dbos``; ignored by SQLite).
    """

    def __init__(self, system_db: str, *, system_schema: str = "dbos") -> None:
        self.system_db = system_db
        try:
            self.system_schema = validate_identifier(system_schema, "system schema")
        except ValueError as exc:
            raise DurableError(str(exc)) from None
        self._client: DBOSClient | None = None

    async def open(self) -> RunControl:
        """Connect to the system database (idempotent)."""
        if self._client is None:
            with db_errors(self.system_db):
                self._client = await asyncio.to_thread(DBOSClient, system_database_url=self.system_db,
                                                       dbos_system_schema=self.system_schema)
        return self

    async def close(self) -> None:
        """Disconnect; idempotent."""
        if self._client is not None:
            client, self._client = self._client, None
            client.destroy()

    async def __aenter__(self) -> RunControl:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def client(self) -> DBOSClient:
        """The DBOS client (raises when not open)."""
        if self._client is None:
            raise DurableError("not connected to the system database; use `async with` or await open() first")
        return self._client

    async def result(self, run_id: str, timeout: float | None = None) -> RunResult:
        """The run's result, waiting up to ``timeout`` seconds (None: no limit); a failed run raises."""
        check_run_id(run_id)
        try:
            with db_errors(self.system_db):
                handle: Any = await self.client.retrieve_workflow_async(run_id)
            result: RunResult = await asyncio.wait_for(handle.get_result(polling_interval_sec=POLL_SECONDS), timeout)
        except asyncio.TimeoutError:
            raise DurableError(f"run {run_id!r} did not finish within {timeout}s; it keeps running "
                               "(`llmteam runs show` to follow it)") from None
        except DurableError:  # RunFailedError included: the run's own error
            raise
        except Exception as exc:
            raise DurableError(f"run {run_id!r}: {type(exc).__name__}: {exc}") from None
        return result


    async def status(self, run_id: str) -> RunStatus:
        """Where the run is now (raises :class:`DurableError` for an unknown run)."""
        with db_errors(self.system_db):
            found = await self.client.list_workflows_async(workflow_ids=[check_run_id(run_id)], load_input=False,
                                                          load_output=False)
        if not found:
            raise DurableError(f"no durable run {run_id!r}; `llmteam runs list` shows the known ones")
        return _status(found[0])

    async def list(self, limit: int = 100) -> list[RunStatus]:
        """The newest ``limit`` durable runs of every team and tenant, newest first."""
        with db_errors(self.system_db):
            found = await self.client.list_workflows_async(name=WORKFLOW_NAME, limit=limit, sort_desc=True,
                                                          load_input=False, load_output=False)
        return [_status(w) for w in found]

    def stream(self, run_id: str, *, offset: int = 0, timeout: float | None = None) -> AsyncIterator[RunEvent]:
        """The run's events (``RunEvent``, as ``TeamRuntime.stream`` yields them), from any process.

        Replays the events from index ``offset``, then follows the run live; the last is ``run_finished`` with
        the result. A failed run raises :class:`RunFailedError` after its events, a cancelled one
        :class:`DurableError`. ``timeout``: seconds to wait for each next event (None: no limit).
        """
        return read_events(self, check_run_id(run_id), offset, timeout)

    async def cancel(self, run_id: str) -> None:
        """Stop the run at its next step (or before it starts); :meth:`resume` continues it."""
        await self.status(run_id)
        with db_errors(self.system_db):
            await self.client.cancel_workflow_async(run_id)

    async def resume(self, run_id: str) -> None:
        """Continue a cancelled or stalled run from its first unfinished step."""
        await self.status(run_id)
        with db_errors(self.system_db):
            await self.client.resume_workflow_async(run_id)



def _status(w: Any) -> RunStatus:
    return RunStatus(w.workflow_id, str(w.status), w.queue_name, w.queue_partition_key, w.executor_id,
                     int(getattr(w, "recovery_attempts", None) or 0), None if w.error is None else str(w.error)[:500])
