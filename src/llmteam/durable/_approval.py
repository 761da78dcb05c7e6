"""Durable approvals: a run that needs a person's decision pauses holding no worker and no tenant slot.

At an approval point (``Agent(approval=True)`` before its step, or a tool call whose policy is ``confirm``) a
run with no decision yet: marks its run record paused (the tenant's ``concurrent_pipelines`` slot is free),
cancels its own DBOS workflow (off the queue: the partition slot and the worker are free), audits
APPROVAL_REQUESTED once, records the pending approval in the table ``llmteam_approvals`` of the DBOS system
database, schedules its deadline as a delayed DBOS workflow, and ends this attempt (:class:`RunPaused`).

``RunControl.approve``/``deny`` (any process) decide it with one conditional UPDATE, so exactly one decision
wins, and the winner continues the run: DBOS resumes the workflow on its own queue and tenant partition, and
its completed steps replay from their checkpoints. At the approval point the decision is then found: the run
takes a tenant slot again, audits the decision (approver, reason) once, and goes on. A deadline that passes
first decides ``timeout`` (audited as APPROVAL_TIMEOUT: denied) the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from dbos import DBOS, DBOSClient, EnqueueOptions
from dbos._error import DBOSAwaitedWorkflowCancelledError

from llmteam.audit import AuditEventType
from llmteam.durable._approval_store import ApprovalRow, ApprovalStore
from llmteam.durable._engine import ENGINE, POLL_SECONDS, DurableError
from llmteam.team import TeamRuntime
from llmteam.team._approval import (
    ApprovalRequest,
    Approvals,
    RunPaused,
    audit_decision,
    denied_error,
)
from llmteam.team._errors import AdmissionRefused
from llmteam.team._run import RunState, find_audit
from llmteam.tenancy import TenantLimitExceededError
from llmteam.tools import ApprovalDecision, Approver, ToolRequest

if TYPE_CHECKING:
    from llmteam.team import Agent

T = TypeVar("T")
logger = logging.getLogger(__name__)
APPROVAL_QUEUE = "llmteam_approvals"
DEADLINE_WORKFLOW = "llmteam.approval_deadline"
MAX_ARGUMENTS = 16_000  # characters of JSON shown to an approver
SEALED = "[SEALED]"
DECISIONS = ("approved", "denied", "timeout")


def _quiet_pauses(record: logging.LogRecord) -> bool:
    """Keep DBOS from logging a traceback (at ERROR) each time a run pauses: a paused run is cancelled on purpose."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, DBOSAwaitedWorkflowCancelledError)


logging.getLogger("dbos").addFilter(_quiet_pauses)

class Service:
    """One process's approval store and DBOS client for a system database (shared by runs and deadlines)."""

    def __init__(self, system_db: str, schema: str, *, store: ApprovalStore | None = None,
                 client: DBOSClient | None = None) -> None:
        self.store = store or ApprovalStore(system_db, schema)
        self.system_db, self.schema = system_db, schema
        self._client = client
        self._owned = client is None
        self._queue = False

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking store call off the event loop."""
        return await asyncio.to_thread(partial(fn, *args, **kwargs))

    async def client(self) -> DBOSClient:
        """A DBOS client (its calls are no steps of the calling workflow, unlike ``DBOS.*`` inside one)."""
        if self._client is None:
            self._client = await asyncio.to_thread(DBOSClient, system_database_url=self.system_db,
                                                   dbos_system_schema=self.schema)
        return self._client

    async def continue_run(self, row: ApprovalRow) -> None:
        """Resume the decided, paused run on its own queue (its tenant partition is kept); only its decider calls
        this. A run not CANCELLED (paused) is running already and finds the decision itself."""
        client = await self.client()
        found = await client.list_workflows_async(workflow_ids=[row.run_id], load_input=False, load_output=False)
        if found and str(found[0].status) == "CANCELLED":
            await client.resume_workflow_async(row.run_id, queue_name=row.queue)

    async def schedule_deadline(self, row: ApprovalRow) -> None:
        """A delayed DBOS workflow that decides ``timeout`` at the deadline (idempotent by its id)."""
        assert row.deadline is not None
        client = await self.client()
        if not self._queue:
            await client.register_queue_async(APPROVAL_QUEUE, polling_interval_sec=POLL_SECONDS,
                                              on_conflict="never_update")
            self._queue = True
        options: EnqueueOptions = {"workflow_name": DEADLINE_WORKFLOW, "queue_name": APPROVAL_QUEUE,
                                   "workflow_id": f"{row.run_id}/deadline/{row.key}",
                                   "delay_seconds": max(0.0, row.deadline - time.time())}
        await client.enqueue_async(options, row.run_id, row.key)

    async def expire(self, run_id: str, key: str) -> bool:
        """Deny a pending approval whose deadline passed and continue its run; True if this call decided it."""
        won = await self.call(self.store.decide, run_id, key, "timeout", "deadline",
                              "no decision before the deadline")
        if won:
            row = await self.call(self.store.get, run_id, key)
            await self.continue_run(row)
        return bool(won)

    def close(self) -> None:
        """Release the store and the client."""
        self.store.close()
        if self._client is not None and self._owned:
            self._client.destroy()


_SERVICES: dict[tuple[str, str], Service] = {}


def service_for(system_db: str, schema: str = "dbos") -> Service:
    """This process's :class:`Service` for ``system_db`` (one per database and schema)."""
    key = (system_db, schema)
    if key not in _SERVICES:
        _SERVICES[key] = Service(system_db, schema)
    return _SERVICES[key]


def close_services() -> None:
    """Release every :class:`Service` of this process (when its DBOS engine shuts down)."""
    while _SERVICES:
        _SERVICES.popitem()[1].close()


def engine_service() -> Service:
    """The service of the system database this process's DBOS runs on."""
    if ENGINE.system_db is None:
        raise DurableError("durable approvals need the DBOS engine launched in this process")
    return service_for(ENGINE.system_db, ENGINE.schema)


@DBOS.workflow(name=DEADLINE_WORKFLOW)
async def approval_deadline(run_id: str, key: str) -> bool:
    """Fired when an approval's deadline passes: decide ``timeout`` unless a person decided first."""
    service = engine_service()

    async def expire() -> bool:
        return await service.expire(run_id, key)

    return bool(await DBOS.run_step_async({"name": "expire"}, expire))


def redact(value: Any, sealed: list[str]) -> Any:
    """``value`` with every string holding a sealed value replaced by ``[SEALED]`` (what an approver may see)."""
    if isinstance(value, str):
        return SEALED if any(s and s in value for s in sealed) else value
    if isinstance(value, dict):
        return {str(k): redact(v, sealed) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, sealed) for v in value]
    return value


def shown_arguments(arguments: Any, sealed: list[str]) -> dict[str, Any]:
    """The arguments as an approver sees them: sealed values redacted, at most MAX_ARGUMENTS of JSON."""
    data = redact(dict(arguments), sealed)
    text = json.dumps(data, sort_keys=True, default=str)
    return data if len(text) <= MAX_ARGUMENTS else {"truncated_json": text[:MAX_ARGUMENTS]}


class DurableApprovals(Approvals):
    """Approvals of durable runs: pause until decided from any process (see the module docstring)."""

    def __init__(self, runtime: TeamRuntime) -> None:
        super().__init__(None)
        self.runtime = runtime

    def for_tools(self, run: RunState, approver: Approver | None) -> Approver:
        async def ask(request: ToolRequest) -> ApprovalDecision:
            agent = run.team.agent(request.agent)
            shown = shown_arguments(request.arguments, [s.text for s in run.sealed])
            return await self.decide(run, ApprovalRequest(run.tenant_id, run.run_id, run.current_step, run.tool_key,
                                                          request.agent, request.tool, shown,
                                                          agent.approval_timeout))
        return ask

    async def agent(self, run: RunState, agent: Agent, step: int) -> ApprovalDecision:
        request = ApprovalRequest(run.tenant_id, run.run_id, step, f"agent:{step}", agent.name, None,
                                  timeout=agent.approval_timeout)
        decision: ApprovalDecision = await run.steps_runner.step(f"approval:{step}",
                                                                 lambda: self.decide(run, request))
        if not decision.granted:
            raise denied_error(request, decision)
        return decision

    async def decide(self, run: RunState, request: ApprovalRequest) -> ApprovalDecision:
        """The decision for ``request``; without one yet the run pauses here (raises :class:`RunPaused`)."""
        service = engine_service()
        row = await service.call(service.store.get, run.run_id, request.key)
        if row is not None and row.status == "pending" and row.deadline is not None and row.deadline <= time.time():
            await service.call(service.store.decide, run.run_id, request.key, "timeout", "deadline",
                               "no decision before the deadline")  # overdue: this running attempt goes on
            row = await service.call(service.store.get, run.run_id, request.key)
        if row is None or row.status == "pending":
            await self._pause(service, run, request, row)
        assert row is not None and row.status in DECISIONS
        await self._take_slot(run)
        await audit_decision(run, request, row.status, row.approver or "", row.reason or "",
                             requested_at=row.requested_at, decided_at=row.decided_at,
                             **({} if request.tool is None else {"tool": request.tool}))
        await run.notify("approval_decided", request.agent, {"step": request.step, "tool": request.tool,
                                                              "decision": row.status, "approver": row.approver})
        return ApprovalDecision(row.status == "approved", row.approver or "", row.reason or "", audited=True)

    async def _take_slot(self, run: RunState) -> None:
        config = await self.runtime.tenant_config(run.tenant_id)
        limit = config.get_effective_limits().max_concurrent_pipelines
        try:
            await self.runtime.run_store.unpause(run.tenant_id, run.run_id, max_concurrent=limit,
                                                 lease=run.team.run_timeout + 60.0)
        except AdmissionRefused as refused:
            raise TenantLimitExceededError(run.tenant_id, refused.limit_type, refused.current,
                                           refused.maximum) from None

    async def _pause(self, service: Service, run: RunState, request: ApprovalRequest,
                     row: ApprovalRow | None) -> None:
        client = await service.client()
        await self.runtime.run_store.pause(run.tenant_id, run.run_id)  # frees the tenant's slot
        if row is None:
            found = await client.list_workflows_async(workflow_ids=[run.run_id], load_input=False, load_output=False)
            queue = found[0].queue_name if found else None
        else:
            queue = row.queue
        await client.cancel_workflow_async(run.run_id)  # off its queue: the partition slot and the worker are free
        if row is None:  # only now may an approver decide: the workflow is CANCELLED, so resuming it is safe
            event = AuditEventType.APPROVAL_REQUESTED
            if await find_audit(run.trail, run.run_id, event, request.key)() is None:
                await run.trail.log(
                    event, actor_type="agent", actor_id=request.agent, action="request_approval",
                    resource_type="agent" if request.tool is None else "tool",
                    resource_id=request.agent if request.tool is None else request.tool,
                    pipeline_id=run.team.name, run_id=run.run_id, agent_name=request.agent, step_name=request.key,
                    metadata={"step": request.step, "timeout": request.timeout},
                )
            now = time.time()
            row = await service.call(service.store.request, ApprovalRow(
                run.run_id, request.key, run.tenant_id, request.step, request.agent, request.tool,
                request.arguments, queue, now, None if request.timeout is None else now + request.timeout))
        if row.deadline is not None:
            await service.schedule_deadline(row)
        await run.notify("approval_requested", request.agent, {"step": request.step, "tool": request.tool,
                                                                "deadline": row.deadline})
        raise RunPaused(f"run {run.run_id!r} waits for approval of step {request.step}")

    async def finished(self, run: RunState) -> None:
        """Before the run's events are written: one ``wait:approval`` event per decided approval of the run.

        Mining only: a failure to read them is logged and leaves the run's outcome as it is.
        """
        service = engine_service()
        try:
            rows = await service.call(service.store.rows, run_id=run.run_id)
        except sa.exc.SQLAlchemyError:
            logger.exception("run %r: its approval waits could not be read for process mining", run.run_id)
            return
        for row in rows:
            if row.status not in DECISIONS or row.decided_at is None:
                continue
            run.event("wait:approval", "wait", int((row.decided_at - row.requested_at) * 1000), attributes={
                "step": row.step, "agent": row.agent, "tool": row.tool, "decision": row.status,
            }, resource=row.approver or "approver", at=row.decided_at)
