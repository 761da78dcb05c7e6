"""The dashboard: server-rendered pages under ``/ui`` over the same services and scopes as the API."""

from __future__ import annotations

import hmac
import inspect
import json
import math
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from llmteam.server import _runs as runs
from llmteam.server import _service as svc
from llmteam.server._auth import authenticate_token, check_scope, client_address, state_of
from llmteam.server._charts import bars
from llmteam.server._problems import Problem
from llmteam.server._session import (
    COOKIE,
    LOGIN_COOKIE,
    SESSION_SECONDS,
    LoginRequired,
    check_csrf,
    cookie_args,
    current,
    form,
    redirect,
    render,
    sessions_of,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 20
_CSS = Path(__file__).parent / "static" / "style.css"
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def when(iso: str | None) -> str:
    """A run time (ISO 8601 UTC) for people: ``2026-11-27 08:05:12 UTC``."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def team_or_404(request: Request, team: str) -> str:
    if not team or len(team) > 63 or not set(team) <= _NAME_OK or team not in state_of(request).teams:
        raise Problem(404, "no such team on this server")
    return team


Page = Callable[..., Awaitable[Response]]


def page(scope: str | None) -> Callable[[Page], Page]:
    """Route body wrapper: a session (else the login page) holding ``scope``."""

    def wrap(fn: Page) -> Page:
        async def handler(request: Request, **kw: Any) -> Response:
            try:
                session, key = await current(request)
            except LoginRequired:
                return redirect("/ui/login")
            if scope is not None:
                check_scope(key, scope)
            return await fn(request, session, key, **kw)

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        sig = inspect.signature(fn)  # FastAPI sees the path parameters, not the session and key we pass
        handler.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p for name, p in sig.parameters.items() if name not in ("session", "key")])
        return handler

    return wrap


def _base(request: Request, session: Any, key: Any, active: str) -> dict[str, Any]:
    return {"csrf": session.csrf, "key": key, "teams": sorted(state_of(request).teams), "active": active}


@router.get("/static/style.css")
async def stylesheet() -> Response:
    return Response(_CSS.read_bytes(), media_type="text/css", headers={"Cache-Control": "max-age=300"})


@router.get("/login")
async def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", login_csrf=token, error=None)
    response.set_cookie(LOGIN_COOKIE, token, max_age=600, **cookie_args(request))
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    data = await form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), data.get("csrf", "").encode()):
        raise Problem(403, "the login form expired; reload the login page")
    try:
        key = await authenticate_token(state_of(request), data.get("api_key", "").strip(), client_address(request))
    except Problem as exc:
        if exc.status == 429:
            raise
        return render(request, "login.html", status_code=401, login_csrf=expected, error="That API key is not valid.")
    sid, _ = sessions_of(request).create(key.key_id)
    response = redirect("/ui/")
    response.set_cookie(COOKIE, sid, max_age=SESSION_SECONDS, **cookie_args(request))
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
@page(None)
async def logout(request: Request, session: Any, key: Any) -> Response:
    check_csrf(session.csrf, await form(request))
    sessions_of(request).drop(request.cookies.get(COOKIE))
    response = redirect("/ui/login")
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/")
@page("runs:read")
async def runs_page(request: Request, session: Any, key: Any) -> Response:
    q = request.query_params
    status = q.get("status") if q.get("status") in runs.STATUSES else None
    team = q.get("team") if q.get("team") in state_of(request).teams else None
    try:
        number = min(max(int(q.get("page", "1")), 1), 1000)
    except ValueError:
        number = 1
    state = state_of(request)
    rows = await runs.list_runs(state, key.tenant_id, limit=PAGE + 1, offset=(number - 1) * PAGE, status=status,
                                team=team)
    shown = [r | {"started": when(r["started_at"])} for r in rows[:PAGE]]
    inputs = {name: sorted({v for a in t.agents for v in a.variables} - set(t.agent_names))
              for name, t in state.teams.items()}
    return render(request, "runs.html", **_base(request, session, key, "runs"), runs=shown, status=status,
                  statuses=runs.STATUSES, team=team, page=number, has_next=len(rows) > PAGE, inputs=inputs)


@router.post("/runs")
@page("runs:write")
async def submit(request: Request, session: Any, key: Any) -> Response:
    data = await form(request)
    check_csrf(session.csrf, data)
    team = team_or_404(request, data.get("team", ""))
    fields = {k[4:]: v for k, v in data.items() if k.startswith("var_") and len(k) < 70}
    try:
        _, view = await runs.submit_run(state_of(request), key.tenant_id, team, fields, 30.0)
    except Problem as exc:
        return render(request, "error.html", status_code=exc.status, **_base(request, session, key, "runs"),
                      title="The run was refused", detail=exc.detail)
    return redirect(f"/ui/runs/{view['run_id']}")


@router.get("/runs/{run_id}")
@page("runs:read")
async def run_page(request: Request, session: Any, key: Any, run_id: str) -> Response:
    state = state_of(request)
    view = await runs.run_detail(state, key.tenant_id, run_id)
    view |= {"started": when(view["started_at"]), "finished": when(view["finished_at"])}
    steps = await svc.run_steps(state, key.tenant_id, run_id)
    audit, verdict = [], None
    if key.admin or "audit:read" in key.scopes:
        audit = await svc.run_audit_records(state, key.tenant_id, run_id)
        verdict = await svc.verify(state, key.tenant_id)
        bad = set(verdict["missing"]) | ({verdict["first_broken"]} if verdict["first_broken"] else set())
        for r in audit:
            seq = r["sequence_number"]
            r["verified"] = verdict["ok"] or (seq not in bad and (verdict["first_broken"] or math.inf) > seq)
    return render(request, "run.html", **_base(request, session, key, "runs"), run=view, steps=steps, audit=audit,
                  verdict=verdict, input_json=json.dumps(view["input"], indent=2, ensure_ascii=False),
                  can_write=key.admin or "runs:write" in key.scopes,
                  can_approve=key.admin or "runs:approve" in key.scopes)


@router.post("/runs/{run_id}/{action}")
@page("runs:read")
async def run_action(request: Request, session: Any, key: Any, run_id: str, action: str) -> Response:
    """The run page's buttons: cancel (runs:write), approve and deny (runs:approve)."""
    data = await form(request)
    check_csrf(session.csrf, data)
    state, actor = state_of(request), f"key:{key.key_id}"
    if action == "cancel":
        check_scope(key, "runs:write")
        await runs.cancel_run(state, key.tenant_id, run_id, actor)
    elif action in ("approve", "deny"):
        check_scope(key, "runs:approve")
        reason = data.get("reason", "")[:2000]
        if action == "deny" and not reason.strip():
            raise Problem(422, "a denial needs a reason; go back and write one")
        try:
            step: int | None = int(data["step"]) if data.get("step") else None
        except ValueError:
            step = None
        await runs.decide(state, key.tenant_id, run_id, approve=action == "approve", actor=actor, step=step,
                          reason=reason)
    else:
        raise Problem(404, "no such action on a run")
    return redirect(f"/ui/runs/{run_id}")


@router.get("/teams/{team}/map")
@page("mining:read")
async def map_page(request: Request, session: Any, key: Any, team: str) -> Response:
    team = team_or_404(request, team)
    summary = await svc.mining_summary(state_of(request), key.tenant_id, team)
    return render(request, "map.html", **_base(request, session, key, "map:" + team), team=team, summary=summary)


@router.get("/teams/{team}/map.svg")
@page("mining:read")
async def map_svg(request: Request, session: Any, key: Any, team: str) -> Response:
    team = team_or_404(request, team)
    svg = await svc.process_map_svg(state_of(request), key.tenant_id, team)
    return Response(svg, media_type="image/svg+xml", headers={"Content-Security-Policy": "default-src 'none'"})


@router.get("/usage")
@page("usage:read")
async def usage_page(request: Request, session: Any, key: Any) -> Response:
    usage = (await state_of(request).run_store.usage(key.tenant_id)).to_dict()
    charts = {
        "Tokens per agent": bars({a: u["total_tokens"] for a, u in usage["by_agent"].items()}),
        "Tokens per model": bars({m or "(unnamed)": u["total_tokens"] for m, u in usage["by_model"].items()}),
        "Cost per agent": bars({a: u["cost"] for a, u in usage["by_agent"].items()}, "{:,.4f}"),
    }
    return render(request, "usage.html", **_base(request, session, key, "usage"), usage=usage, charts=charts)


@router.get("/audit")
@page("audit:read")
async def audit_page(request: Request, session: Any, key: Any) -> Response:
    return await _audit(request, session, key, None)


@router.post("/audit")
@page("audit:read")
async def audit_action(request: Request, session: Any, key: Any) -> Response:
    data = await form(request)
    check_csrf(session.csrf, data)
    state = state_of(request)
    if data.get("action") == "checkpoint":
        await svc.checkpoint(state, key.tenant_id, sign=True)
        return redirect("/ui/audit")
    if data.get("action") == "proof":
        try:
            seq = int(data.get("sequence", ""))
        except ValueError:
            seq = 0
        try:
            proof = await svc.inclusion_proof(state, key.tenant_id, seq) if 0 < seq < 2**62 else None
        except Problem:
            proof = None
        error = None if proof else f"There is no audit record with sequence number {data.get('sequence', '')[:20]}."
        return await _audit(request, session, key, None, proof=proof, proof_error=error)
    return await _audit(request, session, key, await svc.verify(state, key.tenant_id))


async def _audit(request: Request, session: Any, key: Any, verdict: dict[str, Any] | None,
                 proof: dict[str, Any] | None = None, proof_error: str | None = None) -> Response:
    state = state_of(request)
    size = int(await state.audit_store.get_last_sequence(key.tenant_id))
    checkpoint = await state.ledger.latest_checkpoint(key.tenant_id)
    return render(request, "audit.html", **_base(request, session, key, "audit"), size=size, checkpoint=checkpoint,
                  verdict=verdict, proof=proof, proof_error=proof_error)
