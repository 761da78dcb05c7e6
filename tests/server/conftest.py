"""Server fixtures: a 2-agent scripted team directory, an opened ServerState on a SQLite file, keys, an ASGI client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed: pip install 'llmteam[server]'")

import httpx  # noqa: E402

from llmteam.server._state import ServerState  # noqa: E402

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


APPROVAL_YAML = TEAM_YAML.replace('  - {name: answer, prompt: "Reply to {query} as {triage}"}',
                                  '  - {name: answer, prompt: "Reply to {query} as {triage}", approval: true}')


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
    s = await ServerState(db_url, teams_dir=teams_dir, teams_poll=0).open()  # tests reload explicitly
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


ALL_SCOPES = "runs:write,runs:read,runs:approve,usage:read,audit:read,mining:read"


@pytest.fixture
def make_key(state: ServerState) -> Callable[..., Awaitable[str]]:
    async def make(tenant: str = "acme", scopes: str = ALL_SCOPES, **kw: Any) -> str:
        _, token = await state.keys.create(tenant, scopes, actor="cli:test", **kw)
        return token

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``llmteam`` command in a subprocess."""
    return subprocess.run([sys.executable, "-c", "from llmteam.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@contextmanager
def _process(cwd: Path, command: str, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``llmteam COMMAND ARGS`` as a real process in ``cwd``, its output in ``COMMAND.log``; stopped at the end."""
    log = cwd / f"{command}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from llmteam.cli import main; main()", command, *args],
                                cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serving(cwd: Path, *args: str) -> Iterator[str]:
    """``llmteam serve`` (real uvicorn) on a spare loopback port in ``cwd``; yields its base URL."""
    port = spare_port()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    with _process(cwd, "serve", "--port", str(port), "--log-level", "warning", *args) as (proc, log):
        if not poll(lambda: up() or proc.poll() is not None, bool) or not up():
            pytest.fail(f"llmteam serve did not start (exit {proc.poll()}): {log.read_text(errors='replace')[-2000:]}")
        yield base


async def make_token(db: Path, tenant: str = "acme", scopes: str = ALL_SCOPES, **kw: Any) -> str:
    """A key in the SQLite database ``db`` (for a server started on it); its token."""
    state = await ServerState(f"sqlite:///{db}").open()
    try:
        return (await state.keys.create(tenant, scopes, actor="cli:test", **kw))[1]
    finally:
        await state.close()


def poll(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 60.0) -> Any:
    """``read()`` until ``done`` holds (a hang guard of ``seconds``, not a timing assertion); the last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@contextmanager
def working(cwd: Path, *args: str) -> Iterator[None]:
    """``llmteam worker ARGS`` (a real worker process) in ``cwd`` until the block ends; its output in worker.log."""
    with _process(cwd, "worker", *args) as (proc, log):
        started = poll(lambda: log.read_text(errors="replace"),
                       lambda text: " ready: " in text or proc.poll() is not None)
        if " ready: " not in started:
            pytest.fail(f"llmteam worker did not start (exit {proc.poll()}): {started[-2000:]}")
        yield
