"""Dashboard sessions: a random server-side id in an HttpOnly, SameSite=Strict cookie; CSRF tokens on forms.

The session keeps the key id, never the token; the key is re-read on every request, so revoking or expiring it
ends the session too. Sessions are bounded in number and lifetime.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from llmteam.server._auth import state_of
from llmteam.server._keys import ApiKey
from llmteam.server._problems import Problem

COOKIE = "lt_session"
LOGIN_COOKIE = "lt_login"
SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000
MAX_SESSIONS_PER_KEY = 16  # a key's 17th login ends its own oldest session, never another key's
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True), auto_reload=False)


@dataclass
class Session:
    """One logged-in browser: which key, its CSRF token, when it ends."""

    key_id: str
    csrf: str
    expires_at: float


class Sessions:
    """Session ids -> sessions, expiring, bounded per key (:data:`MAX_SESSIONS_PER_KEY`) and in all.

    A key that logs in again and again ends only its own oldest sessions: the table is shared by every tenant,
    and with one bound for all, any key's logins would push every other user out.
    """

    def __init__(self, max_sessions: int = MAX_SESSIONS, max_per_key: int = MAX_SESSIONS_PER_KEY) -> None:
        self.max_sessions = max_sessions
        self.max_per_key = max_per_key
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._by_key: dict[str, list[str]] = {}  # a key's session ids, oldest first

    def create(self, key_id: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(key_id, secrets.token_urlsafe(32), time.time() + SESSION_SECONDS)
        self._items[sid] = session
        mine = self._by_key.setdefault(key_id, [])
        mine.append(sid)
        while len(mine) > self.max_per_key:
            self._items.pop(mine.pop(0), None)
        while len(self._items) > self.max_sessions:  # only with more keys logged in than the table holds
            self._forget(*self._items.popitem(last=False))
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        session = self._items.get(sid) if sid and len(sid) <= 64 else None
        if session is None:
            return None
        if session.expires_at <= time.time():
            self.drop(sid)
            return None
        return session

    def drop(self, sid: str | None) -> None:
        session = self._items.pop(sid or "", None)
        if session is not None:
            self._forget(sid or "", session)

    def _forget(self, sid: str, session: Session) -> None:
        mine = self._by_key.get(session.key_id)
        if mine is not None:
            if sid in mine:
                mine.remove(sid)
            if not mine:
                del self._by_key[session.key_id]


def sessions_of(request: Request) -> Sessions:
    """The app's session table (created with the app)."""
    sessions: Sessions = request.app.state.sessions
    return sessions


def cookie_args(request: Request) -> dict[str, Any]:
    """HttpOnly, SameSite=Strict, Secure when served over HTTPS, scoped to the dashboard."""
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/ui"}


class LoginRequired(Exception):
    """No valid session: the dashboard sends the browser to the login page."""


async def current(request: Request) -> tuple[Session, ApiKey]:
    """The session and its (still active) key; LoginRequired otherwise."""
    session = sessions_of(request).get(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired
    key = await state_of(request).key_store.get(session.key_id)
    if key is None or key.state() != "active":
        sessions_of(request).drop(request.cookies.get(COOKIE))
        raise LoginRequired
    return session, key


async def form(request: Request) -> dict[str, str]:
    """The url-encoded form (the guard has bounded its size and checked its type); one value per field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True, max_num_fields=100).items()}


def check_csrf(session_token: str, data: dict[str, str]) -> None:
    """403 unless the form carries this session's CSRF token."""
    if not hmac.compare_digest(session_token.encode(), data.get("csrf", "").encode()):
        raise Problem(403, "the form's CSRF token is missing or stale; reload the page and submit again")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A dashboard page with the security headers every page carries."""
    html = TEMPLATES.get_template(template).render(request=request, **context)
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def redirect(url: str) -> Response:
    """303 See Other to a server-chosen dashboard path."""
    return RedirectResponse(url, status_code=303)
