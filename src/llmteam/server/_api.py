"""The ``/v1`` JSON API: runs, usage, audit and mining for the caller's tenant (taken from its key only)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Optional

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from llmteam.audit import AuditQuery
from llmteam.audit._report import iter_pages
from llmteam.server import _service as svc
from llmteam.server._auth import require, state_of
from llmteam.server._keys import ApiKey

router = APIRouter(prefix="/v1")
TEAM_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
RUN_ID = Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a run id returned by POST /v1/runs")
TeamQuery = Query(None, pattern=TEAM_PATTERN, description="only this team's runs")


class RunRequest(BaseModel):
    """A run to start: which team, on which input."""

    model_config = ConfigDict(extra="forbid")
    team: str = Field(pattern=TEAM_PATTERN, description="a team name from GET /v1/teams")
    input: dict[str, Any] = Field(default_factory=dict, description="the team's input variables")


@router.get("/teams", summary="Teams this server runs")
async def teams(request: Request, key: ApiKey = Depends(require("runs:read"))) -> dict[str, Any]:
    state = state_of(request)
    return {"teams": [{"name": t.name, "agents": [a.name for a in t.agents], "description": t.description}
                      for t in state.teams.values()]}


@router.post("/runs", status_code=201, summary="Start a run (waits up to ?wait= seconds for it to finish)",
             response_model=None,
             responses={202: {"description": "still running: poll GET /v1/runs/{run_id}"},
                        200: {"description": "with Accept: text/event-stream, the run's events as they happen",
                              "content": {"text/event-stream": {}}}})
async def create_run(request: Request, body: RunRequest,
                     wait: float = Query(30.0, ge=0, le=svc.MAX_WAIT, description="seconds to wait for the result"),
                     key: ApiKey = Depends(require("runs:write"))) -> Response:
    if "text/event-stream" in request.headers.get("accept", ""):
        svc.check_submittable(state_of(request), body.team)
        return StreamingResponse(svc.stream_run(state_of(request), key.tenant_id, body.team, body.input),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store",
                                                                          "X-Accel-Buffering": "no"})
    status, view = await svc.submit_run(state_of(request), key.tenant_id, body.team, body.input, wait)
    return JSONResponse(view, status_code=status, headers={"Location": f"/v1/runs/{view['run_id']}"})


@router.get("/runs", summary="The tenant's runs, newest first")
async def list_runs(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=100_000),
                    status: Optional[str] = Query(None, pattern=r"^(running|completed|failed)$"),
                    team: Optional[str] = TeamQuery,
                    key: ApiKey = Depends(require("runs:read"))) -> dict[str, Any]:
    rows = await state_of(request).runs(key.tenant_id, limit=limit, offset=offset, status=status, team=team)
    return {"runs": [svc.run_view(r) for r in rows], "limit": limit, "offset": offset}


@router.get("/runs/{run_id}", summary="One run, with its steps and audit records")
async def get_run(request: Request, run_id: str = RUN_ID,
                  key: ApiKey = Depends(require("runs:read"))) -> dict[str, Any]:
    state = state_of(request)
    view = svc.run_view(await svc.get_run(state, key.tenant_id, run_id))
    view["events"] = await svc.run_steps(state, key.tenant_id, run_id)
    return view


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
