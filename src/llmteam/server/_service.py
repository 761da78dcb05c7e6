"""What the API and the dashboard both do for a caller's tenant: submit a run, read runs, audit and mining data.

Every function takes the tenant id from the authenticated key and nothing else, so the two front ends cannot
disagree about what a tenant may see.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from llmteam.audit import AuditError, AuditQuery
from llmteam.roles import ProcessMapRenderError
from llmteam.server._problems import Problem
from llmteam.server._state import ServerState
from llmteam.team import AdmissionRefused, RunRecord, TeamError, TenantInactiveError
from llmteam.tenancy import TenantFeatureDisabledError, TenantLimitExceededError, TenantNotFoundError

MAX_WAIT = 300.0


def _refusal(exc: BaseException) -> Problem:
    """A run that ended before it was admitted, as the problem the caller can act on."""
    if isinstance(exc, (TenantLimitExceededError, AdmissionRefused)):
        return Problem(429, f"run refused: {exc}", headers={"Retry-After": "60"})
    if isinstance(exc, (TenantFeatureDisabledError, TenantInactiveError, TenantNotFoundError)):
        return Problem(403, f"run refused: {exc}")
    if isinstance(exc, (TeamError, ValueError, TypeError)):  # bad input: a missing variable, not JSON data
        return Problem(422, f"run refused: {str(exc)[:500]}")
    return Problem(500, f"run failed before it started ({type(exc).__name__}); the operator's log has the details")


async def submit_run(state: ServerState, tenant_id: str, team: str, data: dict[str, Any],
                     wait: float) -> tuple[int, dict[str, Any]]:
    """Start a run and wait up to ``wait`` seconds: (201, finished run) or (202, running run)."""
    check_submittable(state, team)
    run_id, task = await state.submit(team, tenant_id, data)
    done, _ = await asyncio.wait({task}, timeout=min(max(wait, 0.0), MAX_WAIT))
    record = await state.run_store.get(tenant_id, run_id)
    if record is None:  # refused before admission: nothing was persisted
        if not done:
            await asyncio.wait({task}, timeout=5.0)
        exc = task.exception() if task.done() and not task.cancelled() else None
        if exc is not None:
            raise _refusal(exc)
        return 202, {"run_id": run_id, "tenant_id": tenant_id, "team": team, "status": "pending"}
    return (202 if record.status == "running" else 201), run_view(record)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event; JSON never holds a raw newline, so a value cannot start a field of its own."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def stream_run(state: ServerState, tenant_id: str, team: str, data: dict[str, Any]) -> AsyncIterator[bytes]:
    """A run as server-sent events: ``run_started``, then the runtime's events (steps, tokens, tool calls), then
    ``run_finished`` with the run, or ``error`` with a problem. The client going away cancels the run. The caller
    checks :func:`check_submittable` first, while it can still answer with a status code."""
    rt = await state.runtime(team)
    run_id = uuid.uuid4().hex
    state.streams += 1
    try:
        yield _sse("run_started", {"run_id": run_id, "team": team, "tenant_id": tenant_id})
        async for event in rt.stream(data, tenant=tenant_id, run_id=run_id):
            if event.kind == "run_finished":
                break
            yield _sse(event.kind, {"run_id": event.run_id, "agent": event.agent, "step": event.step,
                                    "data": dict(event.data)})
    except Exception as exc:
        record = await state.run_store.get(tenant_id, run_id)
        problem = _refusal(exc) if record is None else Problem(500, f"run {run_id} failed: {record.error}")
        yield _sse("error", {"type": "about:blank", "status": problem.status, "title": problem.title,
                             "detail": problem.detail})
        return
    finally:
        state.streams -= 1
    record = await state.run_store.get(tenant_id, run_id)
    yield _sse("run_finished", run_view(record) if record is not None else {"run_id": run_id})


def check_submittable(state: ServerState, team: str) -> None:
    """404 for an unknown team, 503 when the in-flight bound is reached."""
    if team not in state.teams:
        raise Problem(404, f"no team named {team[:64]!r}; GET /v1/teams lists the teams this server runs")
    if len(state.inflight) + state.streams >= state.max_inflight:
        raise Problem(503, f"the server runs {state.max_inflight} runs already; retry later",
                      headers={"Retry-After": "5"})


def run_view(record: RunRecord) -> dict[str, Any]:
    """A run as the API shows it (the record, with its duration)."""
    out = record.to_dict()
    end = record.finished_at
    out["duration_ms"] = None if end is None else round((end - record.started_at) * 1000, 3)
    return out


async def get_run(state: ServerState, tenant_id: str, run_id: str) -> RunRecord:
    """The tenant's run, or 404 (also when it is another tenant's: no enumeration)."""
    record = await state.run_store.get(tenant_id, run_id) if len(run_id) <= 64 else None
    if record is None:
        raise Problem(404, "no such run for this key's tenant; GET /v1/runs lists yours")
    return record


async def run_audit_records(state: ServerState, tenant_id: str, run_id: str, limit: int = 500) -> list[dict[str, Any]]:
    """The audit records of one run, in sequence order."""
    records = await state.audit_store.query(AuditQuery(tenant_id=tenant_id, run_id=run_id, limit=limit,
                                                       order_by="sequence_number", order_desc=False))
    return [r.to_dict() for r in records]


async def run_steps(state: ServerState, tenant_id: str, run_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The process events of one run (agent steps, tool calls), oldest first."""
    out: list[dict[str, Any]] = []
    async for event in state.event_log.iterate(tenant_id=tenant_id, case_id=run_id):
        out.append({"activity": event.activity, "resource": event.resource, "lifecycle": event.lifecycle,
                    "timestamp": event.timestamp.isoformat(), "duration_ms": event.duration_ms, "cost": event.cost,
                    "attributes": event.attributes})
        if len(out) >= limit:
            break
    return out


async def verify(state: ServerState, tenant_id: str) -> dict[str, Any]:
    """Re-check the tenant's whole chain and its latest signed checkpoint."""
    checkpoint = await state.ledger.latest_checkpoint(tenant_id)
    result = await state.ledger.verify(tenant_id, checkpoint)
    return {"tenant_id": tenant_id, "ok": result.ok, "records_checked": result.records_checked,
            "tree_size": result.tree_size, "root_hash": result.root_hash, "missing": result.missing[:100],
            "first_broken": result.first_broken, "problems": result.problems, "checkpoint": checkpoint}


async def checkpoint(state: ServerState, tenant_id: str, *, sign: bool) -> dict[str, Any]:
    """The latest signed checkpoint (``sign``: sign the current head first)."""
    if sign:
        return await state.ledger.checkpoint(tenant_id)
    cp = await state.ledger.latest_checkpoint(tenant_id)
    if cp is None:
        raise Problem(404, "no signed checkpoint yet for this tenant; POST /v1/audit/checkpoints signs one")
    return cp


async def inclusion_proof(state: ServerState, tenant_id: str, sequence: int) -> dict[str, Any]:
    """An inclusion proof of record ``sequence`` against the latest checkpoint (signed now if none covers it)."""
    cp = await state.ledger.latest_checkpoint(tenant_id)
    if cp is None or int(cp["tree_size"]) < sequence:
        cp = None
    try:
        return await state.ledger.prove_inclusion(tenant_id, sequence, cp)
    except AuditError as exc:
        raise Problem(404, f"no audit record {sequence} for this key's tenant ({str(exc)[:200]})") from None


async def consistency_proof(state: ServerState, tenant_id: str, first: int) -> dict[str, Any]:
    """A bundle proving the log's head extends a checkpoint of size ``first``: ``{"checkpoint", "consistency"}``
    for ``verify_extends``; the checkpoint is the latest signed one when it is the head, else the head signed now."""
    size = int(await state.audit_store.get_last_sequence(tenant_id))
    if first > size:
        raise Problem(404, f"the tenant's log has {size} records; a checkpoint of size {first} cannot be proven "
                      "against it (was it another tenant's, or another deployment's?)")
    cp = await state.ledger.latest_checkpoint(tenant_id)
    if cp is None or int(cp["tree_size"]) != size:
        cp = await state.ledger.checkpoint(tenant_id)
    proof = await state.ledger.prove_consistency(tenant_id, first, int(cp["tree_size"]))
    return {"checkpoint": cp, "consistency": proof}


def _jsonable(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def plain(value: Any) -> Any:
    """Dataclasses with timedeltas -> JSON-ready data (durations in seconds)."""
    return json.loads(json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value,
                                 default=_jsonable))


async def mining_summary(state: ServerState, tenant_id: str, team: str | None, top: int = 5) -> dict[str, Any]:
    """Metrics, bottlenecks (service and waiting) and variants of the tenant's (team's) runs."""
    engine = await state.mining_engine(tenant_id, team)
    return {
        "team": team, "events": engine.get_event_count(), "cases": engine.get_case_count(),
        "metrics": plain(engine.calculate_metrics()),
        "bottlenecks": {by: [plain(b) for b in engine.find_bottlenecks(by, top)] for by in ("service", "waiting")},
        "variants": [{"activities": list(v.activities), "count": v.count, "share": v.share}
                     for v in engine.get_variants()[:top]],
    }


async def process_map_svg(state: ServerState, tenant_id: str, team: str | None) -> bytes:
    """The process map as SVG (Graphviz); 404 when there is nothing to draw, 503 without Graphviz."""
    engine = await state.mining_engine(tenant_id, team)
    if engine.get_event_count() == 0:
        raise Problem(404, "no process events yet for this tenant" + (f" and team {team!r}" if team else ""))
    try:
        rendered = await asyncio.to_thread(engine.process_map, "svg")
    except ProcessMapRenderError as exc:
        raise Problem(503, str(exc)) from None
    return rendered if isinstance(rendered, bytes) else rendered.encode("utf-8")
