"""Server fixtures: a 2-agent scripted team directory, an opened ServerState on a SQLite file, keys, an ASGI client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed: pip install 'llmteam[server]'")

import httpx  # noqa: E402

from llmteam.server._state import ServerState, load_teams  # noqa: E402

TEAM_YAML = """\
team: support
llm:
  provider: scripted
  model: scripted-small
  rules:
    - {match: "Classify", answer: "billing"}
  default: "We have corrected your invoice."
agents:
  - {name: triage, prompt: "Classify: {query}"}
  - {name: answer, prompt: "Reply to {query} as {triage}"}
"""


@pytest.fixture
def teams_dir(tmp_path: Path) -> Path:
    d = tmp_path / "teams"
    d.mkdir()
    (d / "support.yaml").write_text(TEAM_YAML, encoding="utf-8")
    return d


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture
async def state(db_url: str, teams_dir: Path) -> AsyncIterator[ServerState]:
    s = await ServerState(db_url, load_teams(teams_dir)).open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def app(state: ServerState) -> Any:
    from llmteam.server import create_app

    return create_app(state=state)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


ALL_SCOPES = "runs:write,runs:read,usage:read,audit:read,mining:read"


@pytest.fixture
def make_key(state: ServerState) -> Callable[..., Awaitable[str]]:
    async def make(tenant: str = "acme", scopes: str = ALL_SCOPES, **kw: Any) -> str:
        _, token = await state.keys.create(tenant, scopes, actor="cli:test", **kw)
        return token

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
