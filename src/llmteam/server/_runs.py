"""Runs for a caller's tenant, in process or durable: submit, wait, follow as events, read, list, cancel, decide.

Both front ends (API and dashboard) call these with the tenant of the authenticated key and nothing else. In
durable mode (``ServerState(durable=True)``) the run record written by the worker is overlaid with the queue's
view of the run (queued, awaiting approval, cancelled), and a run that has no record yet is shown from the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from llmteam.audit import AuditEventType
from llmteam.server._events import sse
from llmteam.server._problems import Problem
from llmteam.server._state import MAX_LISTED_RUNS, ServerState
from llmteam.team import AdmissionRefused, RunRecord, TeamError, TenantInactiveError
from llmteam.tenancy import TenantContext, TenantFeatureDisabledError, TenantLimitExceededError, TenantNotFoundError

MAX_WAIT = 300.0
MAX_UNRECORDED = 100  # queued / refused durable runs shown in a listing beside the recorded ones
STATUSES = ("queued", "running", "awaiting_approval", "completed", "failed", "cancelled")
_REFUSALS = {"TenantLimitExceededError": 429, "AdmissionRefused": 429, "TenantFeatureDisabledError": 403,
             "TenantInactiveError": 403, "TenantNotFoundError": 403}
NOT_FOUND = "no such run for this key's tenant; GET /v1/runs lists yours"
MAX_FOLLOWERS_PER_TENANT = 32  # open GET /v1/runs/{id}/events streams of one tenant
MAX_FOLLOWERS = 1024  # ... of the whole server (they never count against the runs it admits)


def _refusal(exc: BaseException) -> Problem:
    """A run that ended before it was admitted, as the problem the caller can act on."""
    if isinstance(exc, (TenantLimitExceededError, AdmissionRefused)):
        return Problem(429, f"run refused: {exc}", headers={"Retry-After": "60"})
    if isinstance(exc, (TenantFeatureDisabledError, TenantInactiveError, TenantNotFoundError)):
        return Problem(403, f"run refused: {exc}")
    if isinstance(exc, (TeamError, ValueError, TypeError)):  # bad input: a missing variable, not JSON data
        return Problem(422, f"run refused: {str(exc)[:500]}")
    return Problem(500, f"run failed before it started ({type(exc).__name__}); the operator's log has the details")


def _durable_refusal(error: str) -> Problem:
    """The refusal of a durable run a worker did not admit (its error is ``"TypeName: message"``)."""
    status = _REFUSALS.get(error.split(":", 1)[0].strip(), 422)
    return Problem(status, f"run refused: {error[:500]}", headers={"Retry-After": "60"} if status == 429 else None)


def check_submittable(state: ServerState, team: str) -> None:
    """404 for an unknown team, 503 when the in-flight bound is reached."""
    if team not in state.teams:
        raise Problem(404, f"no team named {team[:64]!r}; GET /v1/teams lists the teams this server runs")
    if len(state.inflight) + state.streams >= state.max_inflight:
        raise Problem(503, f"the server runs {state.max_inflight} runs already; retry later",
                      headers={"Retry-After": "5"})


def run_view(record: RunRecord) -> dict[str, Any]:
    """A run as the API shows it (the record, with its duration; a cancelled in-process run as cancelled)."""
    out = record.to_dict()
    end = record.finished_at
    out["duration_ms"] = None if end is None else round((end - record.started_at) * 1000, 3)
    if record.status == "failed" and (record.error or "").startswith("CancelledError"):
        out["status"] = "cancelled"
    return out


def _overlay(record_status: str, queue_status: str) -> str:
    """A live record's status as the queue sees it (queued again, awaiting approval, cancelled); else the record's."""
    from llmteam.server._durable import SHOWN

    shown = SHOWN.get(queue_status, queue_status.lower())
    live = record_status in ("running", "paused")  # a paused record waits for a person: the queue says so
    return shown if live and shown not in ("completed", "failed") else record_status


async def _durable_view(state: ServerState, tenant_id: str, run_id: str, record: RunRecord | None
                        ) -> dict[str, Any] | None:
    from llmteam.server._durable import NoSuchRun

    assert state.durable is not None
    try:
        status = await state.durable.status(tenant_id, run_id)
    except NoSuchRun:
        return None if record is None else run_view(record)
    if record is None:
        view = state.durable.unrecorded(tenant_id, status)
    else:
        view = run_view(record)
        view["status"] = _overlay(view["status"], status.status)
    view["durable"] = {"status": status.status, "queue": status.queue, "attempts": status.attempts,
                       "executor": status.executor}
    if status.status == "AWAITING_APPROVAL":
        view["approvals"] = [p.to_dict() for p in await state.durable.pending(tenant_id, run_id)]
    return view


async def run_detail(state: ServerState, tenant_id: str, run_id: str) -> dict[str, Any]:
    """The tenant's run as the API shows it, or 404 (also when it is another tenant's: no enumeration)."""
    record = await state.run_store.get(tenant_id, run_id) if len(run_id) <= 64 else None
    view = await _durable_view(state, tenant_id, run_id, record) if state.durable is not None else (
        None if record is None else run_view(record))
    if view is None:
        raise Problem(404, NOT_FOUND)
    return view


async def list_runs(state: ServerState, tenant_id: str, *, limit: int, offset: int, status: str | None = None,
                    team: str | None = None) -> list[dict[str, Any]]:
    """The tenant's runs, newest first (queued durable runs first), filtered (over the newest MAX_LISTED_RUNS)."""
    if status is None and team is None and state.durable is None:
        return [run_view(r) for r in await state.run_store.list(tenant_id, limit, offset)]
    views = [run_view(r) for r in await state.run_store.list(tenant_id, MAX_LISTED_RUNS, 0)]
    if state.durable is not None:
        by_id = {v["run_id"]: v for v in views}
        extra: list[dict[str, Any]] = []
        for queued in await state.durable.listed(tenant_id):
            view = by_id.get(queued.run_id)
            if view is not None:
                view["status"] = _overlay(view["status"], queued.status)
            elif len(extra) < MAX_UNRECORDED and await state.run_store.get(tenant_id, queued.run_id) is None:
                extra.append(state.durable.unrecorded(tenant_id, queued))
        views = extra + views
    views = [v for v in views if (status is None or v["status"] == status) and (team is None or v["team"] == team)]
    return views[offset: offset + limit]


async def submit_run(state: ServerState, tenant_id: str, team: str, data: dict[str, Any],
                     wait: float) -> tuple[int, dict[str, Any]]:
    """Start a run and wait up to ``wait`` seconds: (201, finished run) or (202, queued or running run)."""
    check_submittable(state, team)
    wait = min(max(wait, 0.0), MAX_WAIT)
    if state.durable is not None:
        run_id = await _queue(state, tenant_id, team, data)
        if wait:
            await state.durable.wait(tenant_id, run_id, wait)
        view = await run_detail(state, tenant_id, run_id)
        if view.get("input") is None and view["status"] == "failed":  # a worker refused it before admission
            raise _durable_refusal(view.get("error") or "")
        return (201 if view["status"] in ("completed", "failed", "cancelled") else 202), view
    run_id, task = await state.submit(team, tenant_id, data)
    done, _ = await asyncio.wait({task}, timeout=wait)
    record = await state.run_store.get(tenant_id, run_id)
    if record is None:  # refused before admission: nothing was persisted
        if not done:
            await asyncio.wait({task}, timeout=5.0)
        exc = task.exception() if task.done() and not task.cancelled() else None
        if exc is not None:
            raise _refusal(exc)
        return 202, {"run_id": run_id, "tenant_id": tenant_id, "team": team, "status": "pending"}
    return (202 if record.status == "running" else 201), run_view(record)


async def _queue(state: ServerState, tenant_id: str, team: str, data: dict[str, Any]) -> str:
    assert state.durable is not None
    try:
        return await state.durable.submit(state.teams[team], tenant_id, data)
    except (TeamError, ValueError, TypeError, TenantNotFoundError, TenantInactiveError) as exc:
        raise _refusal(exc) from None


def _event(index: int, kind: str, data: dict[str, Any]) -> bytes:
    return sse(kind, data, index)


async def stream_run(state: ServerState, tenant_id: str, team: str, data: dict[str, Any]) -> AsyncIterator[bytes]:
    """A new run as server-sent events: ``run_started``, the run's events (steps, tokens, tool calls, approvals),
    then ``run_finished`` with the run, or ``error`` with a problem. In process, the client going away cancels
    the run. The caller checks :func:`check_submittable` first, while it can still answer with a status code."""
    state.streams += 1
    try:
        if state.durable is not None:
            try:
                run_id = await _queue(state, tenant_id, team, data)
            except Problem as problem:
                yield _problem_event(problem)
                return
            yield sse("run_started", {"run_id": run_id, "team": team, "tenant_id": tenant_id, "status": "queued"})
            async for chunk in _follow_durable(state, tenant_id, run_id, 0):
                yield chunk
            return
        run_id, task = await state.submit(team, tenant_id, data)
        yield sse("run_started", {"run_id": run_id, "team": team, "tenant_id": tenant_id})
        try:
            async for chunk in _follow_local(state, tenant_id, run_id, 0, refusals=True):
                yield chunk
        finally:
            if not task.done():  # the client went away: the run it started ends with it
                task.cancel()
    finally:
        state.streams -= 1


def follow_refusal(state: ServerState, tenant_id: str) -> Problem | None:
    """429 when the tenant, or the server, follows as many runs' events as it may; else None.

    Following a run reads it: it never takes a place among the runs the server admits (one tenant's readers must
    not turn every other tenant's new runs away), but it holds a connection, so it has bounds of its own.
    """
    if state.followers[tenant_id] >= MAX_FOLLOWERS_PER_TENANT:
        return Problem(429, f"this tenant already follows {MAX_FOLLOWERS_PER_TENANT} runs' events; close one first",
                       headers={"Retry-After": "5"})
    if state.followers.total() >= MAX_FOLLOWERS:
        return Problem(503, f"the server streams {MAX_FOLLOWERS} runs' events already; retry later",
                       headers={"Retry-After": "5"})
    return None


async def follow_run(state: ServerState, tenant_id: str, run_id: str, offset: int) -> AsyncIterator[bytes]:
    """An existing run's events from ``offset`` as server-sent events, live until it ends. The caller checks the
    run is the tenant's first (:func:`run_detail`) and :func:`follow_refusal`, while it can still answer with a
    status code; checked again here, where the place is taken. Going away does not cancel the run."""
    refusal = follow_refusal(state, tenant_id)
    if refusal is not None:
        yield _problem_event(refusal)
        return
    state.followers[tenant_id] += 1
    try:
        follow = _follow_durable if state.durable is not None else _follow_local
        async for chunk in follow(state, tenant_id, run_id, offset):
            yield chunk
    finally:
        state.followers[tenant_id] -= 1
        if not state.followers[tenant_id]:
            del state.followers[tenant_id]


async def _follow_local(state: ServerState, tenant_id: str, run_id: str, offset: int,
                        refusals: bool = False) -> AsyncIterator[bytes]:
    events = state.events.get(run_id)
    if events is not None:
        async with aclosing(events.follow(offset)) as items:
            async for index, kind, data in items:
                yield _event(index, kind, data)
    task = state.inflight.get(run_id)
    if task is not None:
        await asyncio.wait({task})
    record = await state.run_store.get(tenant_id, run_id)
    if record is None:
        exc = task.exception() if task is not None and task.done() and not task.cancelled() else None
        problem = _refusal(exc) if exc is not None else Problem(404, NOT_FOUND)
        yield _problem_event(problem)
    elif refusals and record.status == "failed":
        yield _problem_event(Problem(500, f"run {run_id} failed: {record.error}"))
    else:
        yield sse("run_finished", run_view(record))


async def _follow_durable(state: ServerState, tenant_id: str, run_id: str, offset: int) -> AsyncIterator[bytes]:
    from llmteam.durable import DurableError

    assert state.durable is not None
    failed: str | None = None
    try:
        async with aclosing(state.durable.stream(tenant_id, run_id, offset)) as events:
            index = offset
            async for event in events:
                if event.kind != "run_finished":
                    yield _event(index, event.kind, {"run_id": event.run_id, "agent": event.agent,
                                                     "step": event.step, "data": dict(event.data)})
                index += 1
    except DurableError as exc:  # the run failed or was cancelled: its view below says which
        failed = str(exc)[:500]
    view = await run_detail(state, tenant_id, run_id)
    if view.get("input") is None and view["status"] == "failed":
        yield _problem_event(_durable_refusal(view.get("error") or failed or ""))
    else:
        yield sse("run_finished", view)


def _problem_event(problem: Problem) -> bytes:
    return sse("error", {"type": "about:blank", "status": problem.status, "title": problem.title,
                         "detail": problem.detail})


async def _audit(state: ServerState, tenant_id: str, event: AuditEventType, actor: str, action: str, run_id: str,
                 **fields: Any) -> None:
    async with TenantContext(tenant_id):
        await state.audit.log(event, actor_id=actor, actor_type="api_key", action=action, resource_type="run",
                              resource_id=run_id, run_id=run_id, **fields)


async def cancel_run(state: ServerState, tenant_id: str, run_id: str, actor: str) -> dict[str, Any]:
    """Cancel the tenant's queued, running or paused run (404 if it is not the tenant's, 409 if it has ended)."""
    view = await run_detail(state, tenant_id, run_id)
    if view["status"] in ("completed", "failed", "cancelled"):
        raise Problem(409, f"run {run_id} has ended ({view['status']}); there is nothing to cancel")
    if view["status"] == "awaiting_approval":
        raise Problem(409, f"run {run_id} waits for an approval; deny it (POST /v1/runs/{run_id}/deny) instead")
    if state.durable is not None:
        from llmteam.durable import DurableError

        try:
            await state.durable.cancel(tenant_id, run_id)
        except DurableError as exc:  # it began waiting for an approval meanwhile
            raise Problem(409, str(exc)[:500]) from None
    else:
        task = state.inflight.get(run_id)
        if task is None:
            raise Problem(409, f"run {run_id} is not running in this server; it cannot be cancelled here")
        task.cancel()
        await asyncio.wait({task}, timeout=10.0)
    await _audit(state, tenant_id, AuditEventType.PIPELINE_CANCELLED, actor, "cancel", run_id)
    return await run_detail(state, tenant_id, run_id)


async def decide(state: ServerState, tenant_id: str, run_id: str, *, approve: bool, actor: str,
                 step: int | None, reason: str) -> dict[str, Any]:
    """Approve or deny the run's pending approval as ``actor`` (404 if not the tenant's, 409 if not waiting)."""
    await run_detail(state, tenant_id, run_id)
    if state.durable is None:
        raise Problem(409, "approvals pause durable runs only; this server runs in process (start it with "
                      "`llmteam serve --durable`)")
    from llmteam.durable import DurableError  # the durable extra is installed: the server runs durably

    try:
        await state.durable.decide(tenant_id, run_id, approve=approve, approver=actor, step=step, reason=reason)
    except DurableError as exc:
        raise Problem(409, str(exc)[:500]) from None
    return await run_detail(state, tenant_id, run_id)
