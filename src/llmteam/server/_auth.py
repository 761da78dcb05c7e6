"""Who is calling: a bearer API key (API) or a session holding a key id (dashboard); the tenant comes from the key.

Failed authentication is rate-limited per client address (REJECT: 429 once over the limit, before the key is
even looked at) and audited; each authenticated key is rate-limited on its own. A key is re-read from the store
on every request, so revocation and expiry take effect at once.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from fastapi import Request

from llmteam.ratelimit import RateLimitExceeded
from llmteam.server._keys import ApiKey, AuthenticationError
from llmteam.server._problems import Problem
from llmteam.server._state import ServerState

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="llmteam"'}


def state_of(request: Request) -> ServerState:
    """The server state the app was built with."""
    state: ServerState = request.app.state.llmteam
    return state


def client_address(request: Request) -> str:
    """The peer address (proxies are not trusted: a forwarded header is caller-controlled)."""
    return request.client.host if request.client is not None else "unknown"


async def _consume(state: ServerState, name: str, config: object, what: str) -> None:
    limiter = state.limiter(name, config)  # type: ignore[arg-type]
    try:
        await limiter.acquire()
    except RateLimitExceeded as exc:
        retry = str(max(1, math.ceil(exc.retry_after or 1.0)))
        raise Problem(429, f"{what}; retry after {retry}s", headers={"Retry-After": retry}) from None
    limiter.release()


async def authenticate_token(state: ServerState, token: str, address: str) -> ApiKey:
    """The active key for ``token``; 429 while this address is over its failure budget, else 401 on failure."""
    name = f"authfail:{address}"
    if state.limiter(name, state.auth_rate).is_limited:
        raise Problem(429, "too many failed authentications from this address; wait before retrying",
                      headers={"Retry-After": "60"})
    try:
        key = await state.keys.authenticate(token, ip=address)
    except AuthenticationError as exc:
        await _consume(state, name, state.auth_rate, "too many failed authentications from this address")
        raise Problem(401, f"{exc.reason}; create a key with `llmteam keys create`",
                      headers=BEARER_CHALLENGE) from None
    await _consume(state, f"key:{key.key_id}", state.key_rate, f"API key {key.key_id} is over its request rate")
    return key


async def bearer_key(request: Request) -> ApiKey:
    """Dependency: the caller's key from ``Authorization: Bearer ...`` (401 when missing or bad)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "missing API key; send 'Authorization: Bearer lt_<id>_<secret>'", headers=BEARER_CHALLENGE)
    return await authenticate_token(state_of(request), token.strip(), client_address(request))


def check_scope(key: ApiKey, scope: str) -> None:
    """403 unless the key holds ``scope`` (admin keys hold every scope)."""
    if not key.admin and scope not in key.scopes:
        raise Problem(403, f"API key {key.key_id} lacks scope {scope!r}; create a key with --scope {scope}")


def require(scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """Dependency factory: an authenticated key holding ``scope``."""

    async def dependency(request: Request) -> ApiKey:
        key = await bearer_key(request)
        check_scope(key, scope)
        return key

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


async def require_admin(request: Request) -> ApiKey:
    """Dependency: an authenticated admin key."""
    key = await bearer_key(request)
    if not key.admin:
        raise Problem(403, f"API key {key.key_id} is not an admin key; create one with `llmteam keys create --admin`")
    return key
