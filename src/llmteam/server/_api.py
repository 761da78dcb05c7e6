"""The ``/v1`` JSON API: runs, usage, audit and mining for the caller's tenant (taken from its key only)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any, Optional

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.audit._report import iter_pages
from llmteam.server import _runs as runs
from llmteam.server import _service as svc
from llmteam.server._auth import require, require_admin, state_of
from llmteam.server._keys import ApiKey
from llmteam.server._problems import Problem
from llmteam.team import TeamConfigError
from llmteam.tenancy import TenantContext

router = APIRouter(prefix="/v1")
TEAM_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
RUN_ID = Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a run id returned by POST /v1/runs")
STATUS_PATTERN = "^(" + "|".join(runs.STATUSES) + ")$"
TeamQuery = Query(None, pattern=TEAM_PATTERN, description="only this team's runs")


class TeamRequest(BaseModel):
    """A team file to add or replace (its ``team:`` field names it)."""

    model_config = ConfigDict(extra="forbid")
    yaml: str = Field(max_length=1 << 20, description="the team file's YAML text")


class Decision(BaseModel):
    """A decision on a paused step: which step (optional check), and why."""

    model_config = ConfigDict(extra="forbid")
    step: Optional[int] = Field(None, ge=1, le=100_000, description="the paused step; refused if another waits")
    reason: str = Field("", max_length=2000)


class RunRequest(BaseModel):
    """A run to start: which team, on which input."""

    model_config = ConfigDict(extra="forbid")
    team: str = Field(pattern=TEAM_PATTERN, description="a team name from GET /v1/teams")
    input: dict[str, Any] = Field(default_factory=dict, description="the team's input variables")


@router.get("/teams", summary="Teams this server runs (admin keys also see team files that failed to load)")
async def teams(request: Request, key: ApiKey = Depends(require("runs:read"))) -> dict[str, Any]:
    state = state_of(request)
    out: dict[str, Any] = {"teams": [{"name": t.name, "agents": [a.name for a in t.agents],
                                      "description": t.description} for t in state.teams.values()]}
    if key.admin:
        out["problems"] = [{"file": name, "problem": text} for name, text in sorted(state.directory.problems.items())]
    return out


@router.post("/teams", status_code=201, summary="Add or replace a team (admin keys; YAML validated, audited)")
async def post_team(request: Request, body: TeamRequest, key: ApiKey = Depends(require_admin)) -> JSONResponse:
    state = state_of(request)
    try:
        team, replaced = await state.post_team(body.yaml)
    except TeamConfigError as exc:
        raise Problem(422, f"team refused: {str(exc)[:800]}") from None
    digest = hashlib.sha256(body.yaml.encode("utf-8")).hexdigest()
    async with TenantContext(key.tenant_id):
        await state.audit.log(AuditEventType.CONFIG_CHANGED, actor_id=f"key:{key.key_id}", actor_type="api_key",
                              action="replace_team" if replaced else "add_team", resource_type="team",
                              resource_id=team.name, new_value={"sha256": digest, "agents": team.agent_names})
    view = {"name": team.name, "agents": team.agent_names, "description": team.description, "replaced": replaced}
    return JSONResponse(view, status_code=200 if replaced else 201)


@router.post("/runs", status_code=201, summary="Start a run (waits up to ?wait= seconds for it to finish)",
             response_model=None,
             responses={202: {"description": "queued or still running: poll GET /v1/runs/{run_id}"},
                        200: {"description": "with Accept: text/event-stream, the run's events as they happen",
                              "content": {"text/event-stream": {}}}})
async def create_run(request: Request, body: RunRequest,
                     wait: float = Query(30.0, ge=0, le=runs.MAX_WAIT, description="seconds to wait for the result"),
                     key: ApiKey = Depends(require("runs:write"))) -> Response:
    state = state_of(request)
    if "text/event-stream" in request.headers.get("accept", ""):
        runs.check_submittable(state, body.team)
        return _event_stream(runs.stream_run(state, key.tenant_id, body.team, body.input))
    status, view = await runs.submit_run(state, key.tenant_id, body.team, body.input, wait)
    return JSONResponse(view, status_code=status, headers={"Location": f"/v1/runs/{view['run_id']}"})


def _event_stream(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/runs", summary="The tenant's runs, newest first")
async def list_runs(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=100_000),
                    status: Optional[str] = Query(None, pattern=STATUS_PATTERN),
                    team: Optional[str] = TeamQuery,
                    key: ApiKey = Depends(require("runs:read"))) -> dict[str, Any]:
    rows = await runs.list_runs(state_of(request), key.tenant_id, limit=limit, offset=offset, status=status,
                                team=team)
    return {"runs": rows, "limit": limit, "offset": offset}


@router.get("/runs/{run_id}", summary="One run, with its steps, pending approvals and queue status")
async def get_run(request: Request, run_id: str = RUN_ID,
                  key: ApiKey = Depends(require("runs:read"))) -> dict[str, Any]:
    state = state_of(request)
    view = await runs.run_detail(state, key.tenant_id, run_id)
    view["events"] = await svc.run_steps(state, key.tenant_id, run_id)
    return view


@router.get("/runs/{run_id}/events", summary="Follow a run as server-sent events (Last-Event-ID resumes)",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def run_events(request: Request, run_id: str = RUN_ID,
                     last_event_id: Optional[int] = Header(None, ge=0, le=2**31),
                     key: ApiKey = Depends(require("runs:read"))) -> StreamingResponse:
    state = state_of(request)
    await runs.run_detail(state, key.tenant_id, run_id)  # 404 before the stream starts
    refusal = runs.follow_refusal(state, key.tenant_id)
    if refusal is not None:
        raise refusal
    offset = 0 if last_event_id is None else last_event_id + 1
    return _event_stream(runs.follow_run(state, key.tenant_id, run_id, offset))


@router.post("/runs/{run_id}/cancel", summary="Cancel a queued, running or paused run")
async def cancel_run(request: Request, run_id: str = RUN_ID,
                     key: ApiKey = Depends(require("runs:write"))) -> dict[str, Any]:
    return await runs.cancel_run(state_of(request), key.tenant_id, run_id, f"key:{key.key_id}")


@router.post("/runs/{run_id}/approve", summary="Approve the run's paused step (scope runs:approve)")
async def approve(request: Request, body: Optional[Decision] = None, run_id: str = RUN_ID,
                  key: ApiKey = Depends(require("runs:approve"))) -> dict[str, Any]:
    body = body or Decision.model_validate({})
    return await runs.decide(state_of(request), key.tenant_id, run_id, approve=True, actor=f"key:{key.key_id}",
                             step=body.step, reason=body.reason)


@router.post("/runs/{run_id}/deny", summary="Deny the run's paused step (scope runs:approve; reason required)")
async def deny(request: Request, body: Decision, run_id: str = RUN_ID,
               key: ApiKey = Depends(require("runs:approve"))) -> dict[str, Any]:
    if not body.reason.strip():
        raise Problem(422, "a denial needs a reason: send {\"reason\": \"...\"}")
    return await runs.decide(state_of(request), key.tenant_id, run_id, approve=False, actor=f"key:{key.key_id}",
                             step=body.step, reason=body.reason)


@router.get("/usage", summary="Tokens and cost in total, per agent and per model")
async def usage(request: Request, key: ApiKey = Depends(require("usage:read"))) -> dict[str, Any]:
    data: dict[str, Any] = (await state_of(request).run_store.usage(key.tenant_id)).to_dict()
    return data


@router.get("/audit/verify", summary="Re-check the tenant's chain and latest signed checkpoint")
async def audit_verify(request: Request, key: ApiKey = Depends(require("audit:read"))) -> dict[str, Any]:
    return await svc.verify(state_of(request), key.tenant_id)


@router.get("/audit/checkpoint", summary="The latest signed checkpoint")
async def audit_checkpoint(request: Request, key: ApiKey = Depends(require("audit:read"))) -> dict[str, Any]:
    return await svc.checkpoint(state_of(request), key.tenant_id, sign=False)


@router.post("/audit/checkpoints", status_code=201, summary="Sign and keep a checkpoint of the current head")
async def audit_sign(request: Request, key: ApiKey = Depends(require("audit:read"))) -> dict[str, Any]:
    return await svc.checkpoint(state_of(request), key.tenant_id, sign=True)


@router.get("/audit/records", summary="Audit records, newest first (optionally one run's)")
async def audit_records(request: Request, run_id: Optional[str] = Query(None, pattern=r"^[A-Za-z0-9_-]{1,64}$"),
                        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=1_000_000),
                        key: ApiKey = Depends(require("audit:read"))) -> dict[str, Any]:
    records = await state_of(request).audit_store.query(AuditQuery(
        tenant_id=key.tenant_id, run_id=run_id, limit=limit, offset=offset, order_by="sequence_number"))
    return {"records": [r.to_dict() for r in records], "limit": limit, "offset": offset}


@router.get("/audit/records/{sequence}/proof", summary="Inclusion proof of one record against a signed checkpoint")
async def audit_proof(request: Request, sequence: int = Path(ge=1, le=2**62),
                      key: ApiKey = Depends(require("audit:read"))) -> dict[str, Any]:
    return await svc.inclusion_proof(state_of(request), key.tenant_id, sequence)


@router.get("/audit/consistency", summary="Consistency proof: the log extends an older checkpoint of size ?from=")
async def audit_consistency(request: Request, first: int = Query(alias="from", ge=1, le=2**62,
                                                                 description="the tree size of your older checkpoint"),
                            key: ApiKey = Depends(require("audit:read"))) -> dict[str, Any]:
    return await svc.consistency_proof(state_of(request), key.tenant_id, first)


@router.get("/audit/export", summary="Every record as JSON lines, in sequence order",
            response_class=StreamingResponse)
async def audit_export(request: Request, key: ApiKey = Depends(require("audit:read"))) -> StreamingResponse:
    store = state_of(request).audit_store

    async def lines() -> AsyncIterator[bytes]:
        async for page in iter_pages(store, AuditQuery(tenant_id=key.tenant_id)):
            yield "".join(json.dumps(r.to_dict(), default=str) + "\n" for r in page).encode("utf-8")

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'})


@router.get("/mining/metrics", summary="Process metrics, bottlenecks and variants")
async def mining_metrics(request: Request, team: Optional[str] = TeamQuery,
                         key: ApiKey = Depends(require("mining:read"))) -> dict[str, Any]:
    return await svc.mining_summary(state_of(request), key.tenant_id, team)


@router.get("/mining/bottlenecks", summary="Activities by mean service or waiting time")
async def mining_bottlenecks(request: Request, team: Optional[str] = TeamQuery,
                             by: str = Query("service", pattern=r"^(service|waiting)$"),
                             top: int = Query(5, ge=1, le=100),
                             key: ApiKey = Depends(require("mining:read"))) -> dict[str, Any]:
    engine = await state_of(request).mining_engine(key.tenant_id, team)
    return {"by": by, "bottlenecks": [svc.plain(b) for b in engine.find_bottlenecks(by, top)]}


@router.get("/mining/map.svg", summary="The process map (SVG)", response_class=Response)
async def mining_map(request: Request, team: Optional[str] = TeamQuery,
                     key: ApiKey = Depends(require("mining:read"))) -> Response:
    svg = await svc.process_map_svg(state_of(request), key.tenant_id, team)
    return Response(svg, media_type="image/svg+xml",
                    headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


@router.get("/mining/xes", summary="The event log as XES", response_class=Response)
async def mining_xes(request: Request, team: Optional[str] = TeamQuery,
                     key: ApiKey = Depends(require("mining:read"))) -> Response:
    engine = await state_of(request).mining_engine(key.tenant_id, team)
    return Response(engine.export_xes(), media_type="application/xml",
                    headers={"Content-Disposition": 'attachment; filename="events.xes"'})
