"""``ServerState(durable=True)`` / ``llmteam serve --durable``: runs go to the DBOS queues, a worker runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("dbos", reason="the durable extra is not installed: pip install 'llmteam[durable]'")

from llmteam.durable import DurableRuntime  # noqa: E402
from llmteam.server import create_app  # noqa: E402
from llmteam.server._state import ServerState  # noqa: E402
from llmteam.team import load_team  # noqa: E402
from tests.server.conftest import ALL_SCOPES, bearer  # noqa: E402


@pytest.fixture
async def durable_state(db_url: str, teams_dir: Path) -> AsyncIterator[ServerState]:
    s = await ServerState(db_url, teams_dir=teams_dir, teams_poll=0, durable=True).open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def dclient(durable_state: ServerState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state=durable_state), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _tokens(state: ServerState) -> tuple[str, str]:
    acme = (await state.keys.create("acme", ALL_SCOPES, actor="cli:test"))[1]
    globex = (await state.keys.create("globex", ALL_SCOPES, actor="cli:test"))[1]
    return acme, globex


async def test_queued_without_a_worker_then_cancelled(dclient: Any, durable_state: Any) -> None:
    acme, globex = await _tokens(durable_state)
    r = await dclient.post("/v1/runs", params={"wait": 0}, json={"team": "support", "input": {"query": "q"}},
                           headers=bearer(acme))
    assert r.status_code == 202, r.text
    run = r.json()
    assert (run["status"], run["team"], run["durable"]["status"]) == ("queued", "support", "ENQUEUED")
    run_id = run["run_id"]
    assert (await dclient.get(f"/v1/runs/{run_id}", headers=bearer(acme))).json()["status"] == "queued"
    listed = (await dclient.get("/v1/runs", params={"status": "queued"}, headers=bearer(acme))).json()["runs"]
    assert [x["run_id"] for x in listed] == [run_id]
    for method, path in (("GET", f"/v1/runs/{run_id}"), ("POST", f"/v1/runs/{run_id}/cancel"),
                         ("GET", f"/v1/runs/{run_id}/events"), ("POST", f"/v1/runs/{run_id}/approve")):
        r = await dclient.request(method, path, headers=bearer(globex))  # another tenant's queued run
        assert r.status_code == 404 and run_id not in r.text, (method, path)
    assert (await dclient.get("/v1/runs", headers=bearer(globex))).json()["runs"] == []
    r = await dclient.post(f"/v1/runs/{run_id}/cancel", headers=bearer(acme))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await dclient.post(f"/v1/runs/{run_id}/cancel", headers=bearer(acme))
    assert r.status_code == 409


async def test_a_worker_runs_what_the_server_queued(dclient: Any, durable_state: Any, db_url: str,
                                                    teams_dir: Path) -> None:
    acme, _ = await _tokens(durable_state)
    r = await dclient.post("/v1/runs", json={"team": "support", "input": {}}, headers=bearer(acme))
    assert r.status_code == 422 and "query" in r.json()["detail"]  # checked before it is queued
    async with DurableRuntime(load_team(teams_dir / "support.yaml"), db_url, executor_id="test-worker"):
        r = await dclient.post("/v1/runs", params={"wait": 60}, json={"team": "support", "input": {"query": "q"}},
                               headers=bearer(acme))
        assert r.status_code == 201, r.text
        run = r.json()
    assert run["status"] == "completed" and run["output"] == "We have corrected your invoice."
    assert run["durable"]["status"] == "SUCCESS"
    listed = (await dclient.get("/v1/runs", headers=bearer(acme))).json()["runs"]
    assert [(x["run_id"], x["status"]) for x in listed] == [(run["run_id"], "completed")]
    r = await dclient.post(f"/v1/runs/{run['run_id']}/cancel", headers=bearer(acme))
    assert r.status_code == 409
