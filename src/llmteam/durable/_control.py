"""``RunControl``: inspect, wait for, cancel, resume, approve, deny and retry durable runs from any process.

It talks to the DBOS system database only (no team, no stores), through DBOS's client and the approvals table
beside DBOS's own, so ``llmteam runs`` works beside any worker.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa
from dbos import DBOSClient, SetWorkflowID
from dbos._error import DBOSAwaitedWorkflowCancelledError

from llmteam.backends import validate_identifier
from llmteam.durable._approval import Service
from llmteam.durable._approval_store import ApprovalStore, PendingApproval, check_approver, check_reason
from llmteam.durable._engine import ENGINE, POLL_SECONDS, WORKFLOW_NAME, DurableError
from llmteam.durable._stream import read_events
from llmteam.team import RunEvent, RunResult, TeamError
from llmteam.team._records import check_run_id as check_team_run_id

AWAITING = "AWAITING_APPROVAL"
CONTINUE_GRACE = 60.0  # seconds a decided run may stay cancelled while its decider resumes it
QUICK_POLL, QUICK_FOR = 0.01, 1.0  # once a run ended in this process: read its outcome every 10 ms, for up to 1 s


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a run id the team runtime accepts (:func:`llmteam.team._records.check_run_id`: 1-128
    letters, digits or ``_.:-``, not first); else a DurableError naming it."""
    try:
        return check_team_run_id(run_id)
    except TeamError as exc:
        raise DurableError(str(exc)) from None


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
    """Where a durable run is: DBOS status (ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED, ...) and its queue;
    ``AWAITING_APPROVAL`` for a run paused until a person decides (it holds no worker and no tenant slot)."""

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
        self._approvals: ApprovalStore | None = None

    @property
    def approvals(self) -> ApprovalStore:
        """The approvals table beside DBOS's (connected on first use)."""
        if self._approvals is None:
            self._approvals = ApprovalStore(self.system_db, self.system_schema)
        return self._approvals

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with db_errors(self.system_db):
            return await asyncio.to_thread(partial(fn, *args, **kwargs))

    async def open(self) -> RunControl:
        """Connect to the system database (idempotent)."""
        if self._client is None:
            with db_errors(self.system_db):
                self._client = await asyncio.to_thread(DBOSClient, system_database_url=self.system_db,
                                                       dbos_system_schema=self.system_schema)
        return self

    async def close(self) -> None:
        """Disconnect; idempotent."""
        if self._approvals is not None:
            approvals, self._approvals = self._approvals, None
            approvals.close()
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
        """The run's result, waiting up to ``timeout`` seconds (None: no limit), also while it waits for an
        approval; a failed run raises :class:`RunFailedError`, a cancelled one :class:`DurableError`."""
        check_run_id(run_id)
        try:
            return await asyncio.wait_for(self._result(run_id), timeout)
        except asyncio.TimeoutError:
            raise DurableError(f"run {run_id!r} did not finish within {timeout}s; it keeps running "
                               "(`llmteam runs show` to follow it)") from None
        except DurableError:  # RunFailedError included: the run's own error
            raise
        except Exception as exc:
            raise DurableError(f"run {run_id!r}: {type(exc).__name__}: {exc}") from None

    async def _result(self, run_id: str) -> RunResult:
        while True:
            with db_errors(self.system_db):
                handle: Any = await self.client.retrieve_workflow_async(run_id)
            try:
                return await self._outcome(handle, run_id)
            except DBOSAwaitedWorkflowCancelledError:
                if not await self._paused(run_id):
                    raise DurableError(f"run {run_id!r} was cancelled; `llmteam runs resume` continues it") from None
            await asyncio.sleep(POLL_SECONDS)

    @staticmethod
    async def _outcome(handle: Any, run_id: str) -> RunResult:
        """The run's outcome: polled every POLL_SECONDS, and read at once when the run ends in this process."""
        ending = ENGINE.ending(run_id)
        polling: asyncio.Future[RunResult] = asyncio.ensure_future(
            handle.get_result(polling_interval_sec=POLL_SECONDS))
        try:
            await asyncio.wait((polling, ending), return_when=asyncio.FIRST_COMPLETED)
            if polling.done():
                return polling.result()
            polling.cancel()
            result: RunResult
            try:  # it ended here: DBOS records its outcome in a moment
                result = await asyncio.wait_for(handle.get_result(polling_interval_sec=QUICK_POLL), QUICK_FOR)
            except asyncio.TimeoutError:  # not recorded yet (the database is slow): back to the ordinary pace
                result = await handle.get_result(polling_interval_sec=POLL_SECONDS)
            return result
        finally:
            polling.cancel()
            ENGINE.unwatch(run_id, ending)

    async def _paused(self, run_id: str) -> bool:
        """True while the cancelled run waits for a decision or its decider is continuing it."""
        if (await self.status(run_id)).status == AWAITING:
            return True
        rows = await self._db(self.approvals.rows, run_id=run_id)
        return bool(rows) and max(r.decided_at or 0.0 for r in rows) > time.time() - CONTINUE_GRACE

    async def status(self, run_id: str) -> RunStatus:
        """Where the run is now (raises :class:`DurableError` for an unknown run)."""
        with db_errors(self.system_db):
            # the output too: DBOS reads a run's error with its output only (the server maps the error to a status)
            found = await self.client.list_workflows_async(workflow_ids=[check_run_id(run_id)], load_input=False,
                                                          load_output=True)
        if not found:
            raise DurableError(f"no durable run {run_id!r}; `llmteam runs list` shows the known ones")
        return (await self._statuses(found))[0]

    async def list(self, limit: int = 100, *, tenant: str | None = None) -> list[RunStatus]:
        """The newest ``limit`` durable runs of every team and tenant (or of ``tenant`` only), newest first.

        A run is submitted as its tenant (DBOS's ``authenticated_user``, which a retry keeps), so the database
        filters by tenant before the limit: one tenant's many runs never push another's out of its listing.
        """
        with db_errors(self.system_db):
            found = await self.client.list_workflows_async(name=WORKFLOW_NAME, limit=limit, sort_desc=True,
                                                          user=tenant, load_input=False, load_output=False)
        return [s for s in await self._statuses(found) if tenant is None or s.tenant == tenant]

    async def _statuses(self, found: builtins.list[Any]) -> builtins.list[RunStatus]:
        cancelled = [w.workflow_id for w in found if str(w.status) == "CANCELLED"]
        waiting = {r.run_id: r.queue for r in await self._db(self.approvals.rows, status="pending",
                                                             run_ids=cancelled)} if cancelled else {}
        return [_status(w, w.workflow_id in waiting, waiting.get(w.workflow_id)) for w in found]

    def stream(self, run_id: str, *, offset: int = 0, timeout: float | None = None) -> AsyncIterator[RunEvent]:
        """The run's events (``RunEvent``, as ``TeamRuntime.stream`` yields them), from any process.

        Replays the events from index ``offset``, then follows the run live; the last is ``run_finished`` with
        the result. A failed run raises :class:`RunFailedError` after its events, a cancelled one
        :class:`DurableError`. ``timeout``: seconds to wait for each next event (None: no limit).
        """
        return read_events(self, check_run_id(run_id), offset, timeout)

    async def cancel(self, run_id: str) -> None:
        """Stop the run at its next step (or before it starts); :meth:`resume` continues it."""
        await self._not_awaiting(run_id, "cancel")
        with db_errors(self.system_db):
            await self.client.cancel_workflow_async(run_id)

    async def resume(self, run_id: str) -> None:
        """Continue a cancelled or stalled run from its first unfinished step (also a decided run that did not
        continue because its decider stopped half-way)."""
        await self._not_awaiting(run_id, "resume")
        with db_errors(self.system_db):
            await self.client.resume_workflow_async(run_id)

    async def _not_awaiting(self, run_id: str, what: str) -> RunStatus:
        status = await self.status(run_id)
        if status.status == AWAITING:
            raise DurableError(f"run {run_id!r} is waiting for an approval; approve or deny it (`llmteam runs "
                               f"pending`) instead of asking to {what} it")
        return status

    # -- approvals and retries -------------------------------------------------------------------
    async def pending(self, run_id: str | None = None, *,
                      tenant: str | None = None) -> builtins.list[PendingApproval]:
        """Approvals waiting for a decision (at most one per run), oldest first; filter by run and/or tenant."""
        if run_id is not None:
            check_run_id(run_id)
        rows = await self._db(self.approvals.rows, run_id=run_id, tenant=tenant, status="pending")
        return [row.pending() for row in rows]

    async def approve(self, run_id: str, *, approver: str, step: int | None = None, reason: str = "") -> None:
        """Approve the run's pending approval (``step``: must be the one it waits for) and continue the run."""
        await self._decide(run_id, "approved", check_approver(approver), check_reason(reason, False), step)

    async def deny(self, run_id: str, *, approver: str, reason: str, step: int | None = None) -> None:
        """Deny it: a tool call gets the denial and the reason as its result; an agent step fails the run."""
        await self._decide(run_id, "denied", check_approver(approver), check_reason(reason, True), step)

    async def _decide(self, run_id: str, decision: str, approver: str, reason: str, step: int | None) -> None:
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 1):
            raise DurableError(f"step={step!r} must be an agent step number >= 1")
        check_run_id(run_id)
        waiting = await self._db(self.approvals.rows, run_id=run_id, status="pending")
        if not waiting:
            await self.status(run_id)  # an unknown run says so
            done = await self._db(self.approvals.rows, run_id=run_id)
            last = f"; its last approval (step {done[-1].step}) was {done[-1].status} by {done[-1].approver!r}" \
                if done else ""
            raise DurableError(f"run {run_id!r} is not waiting for an approval{last}")
        row = waiting[0]
        if step is not None and step != row.step:
            raise DurableError(f"run {run_id!r} waits for the approval of step {row.step}, not step {step}")
        service = Service(self.system_db, self.system_schema, store=self.approvals, client=self.client)
        if row.deadline is not None and row.deadline <= time.time():
            await service.expire(run_id, row.key)
            raise DurableError(f"the approval of step {row.step} of run {run_id!r} passed its deadline and was "
                               "denied (timeout)")
        if not await self._db(self.approvals.decide, run_id, row.key, decision, approver, reason):
            raise DurableError(f"the approval of step {row.step} of run {run_id!r} was decided meanwhile; "
                               "`llmteam runs show` tells where it is")
        with db_errors(self.system_db):
            await service.continue_run(row)

    async def retry(self, run_id: str, *, from_step: int) -> str:
        """Run ``run_id`` again as a new run (returned id) through DBOS's fork: its agent steps before
        ``from_step`` replay from the original's checkpoints, ``from_step`` onward execute again. The new run
        admits, audits, mines and counts usage as its own (only for the steps it executes)."""
        if isinstance(from_step, bool) or not isinstance(from_step, int) or from_step < 1:
            raise DurableError(f"from_step={from_step!r} must be an agent step number >= 1")
        status = await self._not_awaiting(run_id, "retry")
        if status.status not in ("SUCCESS", "ERROR", "CANCELLED"):
            raise DurableError(f"run {run_id!r} is {status.status}; retry a run that has ended")
        with db_errors(self.system_db):
            steps = await self.client.list_workflow_steps_async(run_id)
        starts = [s["function_id"] for s in steps if s["function_name"] in (f"approval:{from_step}",
                                                                              f"model:{from_step}")]
        if not starts:
            ran = sorted({int(s["function_name"].split(":")[1]) for s in steps
                          if re.fullmatch(r"model:\d+", s["function_name"])})
            raise DurableError(f"run {run_id!r} has no step {from_step} to retry from (its steps: "
                               f"{', '.join(map(str, ran)) or 'none'})")
        new_id = uuid.uuid4().hex
        await self._db(self.approvals.record_retry, new_id, run_id, from_step)
        with db_errors(self.system_db), SetWorkflowID(new_id):
            await self.client.fork_workflow_async(run_id, min(starts), queue_name=status.queue,
                                                  queue_partition_key=status.tenant)
        return new_id


def _status(w: Any, awaiting: bool = False, queue: str | None = None) -> RunStatus:
    """A paused run is off its queue (``queue``: the one it continues on)."""
    return RunStatus(w.workflow_id, AWAITING if awaiting else str(w.status), queue or w.queue_name,
                     w.queue_partition_key,
                     w.executor_id, int(getattr(w, "recovery_attempts", None) or 0),
                     None if w.error is None else _error_text(w.error))


def _error_text(error: Any) -> str:
    """A run's error as ``"TypeName: message"`` (what the server maps to a status), at most 500 characters."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return text[:500]
