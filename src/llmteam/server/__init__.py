"""``llmteam serve``: the runtime over HTTP, with the tenant taken from the caller's API key, and a dashboard.

API keys (:class:`KeyManager`, stores in ``llmteam.server.stores``) need nothing beyond the core install; the
app itself (:func:`create_app`) needs the ``server`` extra (FastAPI, uvicorn, Jinja2) and is imported lazily::

    from llmteam.server import create_app
    app = create_app("sqlite:///./.llmteam/llmteam.db", teams_dir="teams/")   # an ASGI app for any server

``ServerState`` holds what one server process opens (stores, teams, runtimes, limiters); ``load_teams`` reads a
directory of team YAML files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmteam.server._keys import (
    SCOPES,
    ApiKey,
    APIKeyError,
    AuthenticationError,
    KeyManager,
    cli_actor,
    parse_duration,
    parse_scopes,
)
from llmteam.server._store import KeyExistsError, KeyStore

if TYPE_CHECKING:
    from llmteam.server._app import create_app
    from llmteam.server._state import ServerState, load_teams

__all__ = [
    "SCOPES",
    "APIKeyError",
    "ApiKey",
    "AuthenticationError",
    "KeyExistsError",
    "KeyManager",
    "KeyStore",
    "ServerState",
    "cli_actor",
    "create_app",
    "load_teams",
    "parse_duration",
    "parse_scopes",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from llmteam.server._app import create_app

        return create_app
    if name in ("ServerState", "load_teams"):
        from llmteam.server import _state

        return getattr(_state, name)
    raise AttributeError(f"module 'llmteam.server' has no attribute {name!r}")
