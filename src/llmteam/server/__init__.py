"""``llmteam serve``: the runtime over HTTP, with the tenant taken from the caller's API key, and a dashboard.

API keys (:class:`KeyManager`, stores in ``llmteam.server.stores``) need nothing beyond the core install; the
app itself (:func:`create_app`) needs the ``server`` extra (FastAPI, uvicorn, Jinja2) and is imported lazily::

    from llmteam.server import create_app
    app = create_app("sqlite:///./.llmteam/llmteam.db", teams_dir="teams/")
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

if TYPE_CHECKING:
    from llmteam.server._app import create_app

__all__ = [
    "SCOPES",
    "APIKeyError",
    "ApiKey",
    "AuthenticationError",
    "KeyManager",
    "cli_actor",
    "create_app",
    "parse_duration",
    "parse_scopes",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from llmteam.server._app import create_app

        return create_app
    raise AttributeError(f"module 'llmteam.server' has no attribute {name!r}")
