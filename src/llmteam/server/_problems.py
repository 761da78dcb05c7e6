"""RFC 9457 problem details: every error the server returns, as ``application/problem+json``, never a traceback.

Problems never echo the request (no ``instance``, no path, no submitted value beyond a bounded name the detail
must cite), so a response can never carry anything the caller did not already own.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

logger = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Problem(Exception):
    """An HTTP error with an RFC 9457 body; ``headers`` are fixed strings chosen by the server, never user input."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(status: int, detail: str, *, title: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """The problem+json response for ``status`` with a human ``detail`` naming what was wrong and what to do."""
    body: dict[str, Any] = {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    body.update(extra)
    return Response(json.dumps(body, default=str), status_code=status, media_type=PROBLEM_TYPE,
                    headers={**SECURITY_HEADERS, **(headers or {})})


async def problem_handler(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`Problem`."""
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.detail, title=exc.title, headers=exc.headers, **exc.extra)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette/FastAPI HTTPException (404 on unknown routes, 405, ...) as problem+json."""
    status = int(getattr(exc, "status_code", 500))
    detail = getattr(exc, "detail", None)
    text = detail if isinstance(detail, str) else HTTPStatus(status).phrase
    if status == 404 and text == "Not Found":
        text = "no such resource; the routes are listed at /docs"
    return problem_response(status, text)


async def validation_handler(request: Request, exc: Exception) -> Response:
    """A request that does not match its schema: 422 naming each bad field (values are not echoed)."""
    errors: list[dict[str, Any]] = list(getattr(exc, "errors", list)())
    fields = [{"loc": [str(p) for p in e.get("loc", ())][:8], "msg": str(e.get("msg", ""))[:200]} for e in errors][:20]
    where = "; ".join(f"{'.'.join(f['loc'])}: {f['msg']}" for f in fields) or "the request is not valid"
    return problem_response(422, f"invalid request: {where}", errors=fields)


async def unhandled_handler(request: Request, exc: Exception) -> Response:
    """Anything else: logged server-side with its traceback, answered with a bare 500."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal server error; the operator's log has the details")
