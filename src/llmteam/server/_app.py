"""``create_app``: the FastAPI application: the JSON API, the admin API, health probes and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from llmteam import __version__
from llmteam.server import _admin, _api, _dashboard
from llmteam.server._guard import GuardMiddleware
from llmteam.server._problems import (
    Problem,
    http_exception_handler,
    problem_handler,
    unhandled_handler,
    validation_handler,
)
from llmteam.server._session import Sessions, render
from llmteam.server._state import ServerState
from llmteam.team import DEFAULT_URL


async def _problem_or_page(request: Request, exc: Exception) -> Response:
    """Problems as problem+json for the API, as an error page for the dashboard's browsers."""
    if request.url.path.startswith("/ui/") and isinstance(exc, Problem):
        return render(request, "error.html", status_code=exc.status, title=exc.title, detail=exc.detail, key=None)
    return await problem_handler(request, exc)


def create_app(url: str = DEFAULT_URL, *, teams_dir: str | None = None, state: ServerState | None = None,
               max_body: int = 1 << 20, max_json_depth: int = 32, **options: Any) -> FastAPI:
    """The server for the stores at ``url`` and the team YAML files in ``teams_dir``.

    ``options`` go to :class:`ServerState` (``durable``, ``teams_poll``, ``max_inflight``, ``key_rate_per_minute``,
    ``key_burst``, ``auth_failures_per_minute``). The stores open when the app starts (ASGI lifespan) and close
    when it stops.
    """
    server = state or ServerState(url, teams_dir=teams_dir, **options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not server.opened:
            await server.open()
        try:
            yield
        finally:
            await server.close()

    app = FastAPI(title="llmteam", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None,
                  description="Runs, usage, audit proofs and process mining for the tenant of your API key.")
    app.state.llmteam = server
    app.add_exception_handler(Problem, _problem_or_page)
    app.add_exception_handler(HTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(Exception, unhandled_handler)
    app.add_middleware(GuardMiddleware, max_body=max_body, max_depth=max_json_depth)
    app.include_router(_api.router)
    app.include_router(_admin.router)
    app.include_router(_dashboard.router)
    app.state.sessions = Sessions()

    @app.get("/healthz", summary="The process is up", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Every store is reachable", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        checks = await server.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)

    return app
