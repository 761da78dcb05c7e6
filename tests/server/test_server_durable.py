"""``ServerState(durable=True)`` / ``llmteam serve --durable``: runs go to the DBOS queues, a worker runs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("dbos", reason="the durable extra is not installed: pip install 'llmteam[durable]'")
pytestmark = pytest.mark.timeout(300)  # DBOS start-up and a worker on a loaded machine: a hang guard

from llmteam.audit import AuditQuery  # noqa: E402
from llmteam.durable import DurableRuntime  # noqa: E402
from llmteam.server import create_app  # noqa: E402
from llmteam.server._state import ServerState  # noqa: E402
from llmteam.team import load_team  # noqa: E402
from tests.server.conftest import ALL_SCOPES, APPROVAL_YAML, bearer  # noqa: E402
from tests.server.test_server_runs import events_of  # noqa: E402


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


async def test_approve_and_deny_a_paused_step(dclient: Any, durable_state: Any, db_url: str,
                                              teams_dir: Path) -> None:
    (teams_dir / "support.yaml").write_text(APPROVAL_YAML)
    await durable_state.reload_teams()
    acme, globex = await _tokens(durable_state)
    submitter = (await durable_state.keys.create("acme", "runs:write,runs:read", actor="cli:test"))[1]
    body = {"team": "support", "input": {"query": "q"}}
    async with DurableRuntime(load_team(teams_dir / "support.yaml"), db_url, executor_id="test-worker"):
        run = (await dclient.post("/v1/runs", params={"wait": 60}, json=body, headers=bearer(acme))).json()
        assert run["status"] == "awaiting_approval", run  # ?wait= returns when the run pauses for a person
        assert [(a["step"], a["agent"], a["tool"]) for a in run["approvals"]] == [(2, "answer", None)]
        run_id = run["run_id"]
        listed = (await dclient.get("/v1/runs", params={"status": "awaiting_approval"}, headers=bearer(acme)))
        assert [x["run_id"] for x in listed.json()["runs"]] == [run_id]
        r = await dclient.post(f"/v1/runs/{run_id}/approve", json={"step": 2}, headers=bearer(submitter))
        assert r.status_code == 403 and "runs:approve" in r.json()["detail"]  # submitting is not approving
        r = await dclient.post(f"/v1/runs/{run_id}/approve", json={"step": 2}, headers=bearer(globex))
        assert r.status_code == 404
        r = await dclient.post(f"/v1/runs/{run_id}/cancel", headers=bearer(acme))
        assert r.status_code == 409 and "deny" in r.json()["detail"]
        r = await dclient.post(f"/v1/runs/{run_id}/approve", json={"step": 1}, headers=bearer(acme))
        assert r.status_code == 409 and "step 2" in r.json()["detail"]
        r = await dclient.post(f"/v1/runs/{run_id}/approve", json={"step": 2, "reason": "looks fine"},
                               headers=bearer(acme))
        assert r.status_code == 200, r.text
        r = await dclient.post(f"/v1/runs/{run_id}/approve", json={"step": 2}, headers=bearer(acme))
        assert r.status_code == 409  # decided once
        done = (await dclient.get(f"/v1/runs/{run_id}/events", headers=bearer(acme))).text
        assert '"status": "completed"' in done and "We have corrected your invoice." in done
        second = (await dclient.post("/v1/runs", params={"wait": 60}, json=body, headers=bearer(acme))).json()
        r = await dclient.post(f"/v1/runs/{second['run_id']}/deny", json={"reason": "not today"},
                               headers=bearer(acme))
        assert r.status_code == 200, r.text
        for _ in range(300):  # a hang guard while the worker ends the denied run
            denied = (await dclient.get(f"/v1/runs/{second['run_id']}", headers=bearer(acme))).json()
            if denied["status"] not in ("running", "queued", "awaiting_approval"):
                break
            await asyncio.sleep(0.1)
        assert denied["status"] == "failed" and "not today" in denied["error"]
    key_id = acme.split("_")[1]
    records = await durable_state.audit_store.query(AuditQuery(tenant_id="acme", run_id=run_id, limit=100))
    granted = [x for x in records if x.event_type.value == "approval.granted"]
    assert len(granted) == 1 and granted[0].actor_id == f"key:{key_id}"  # the approver is the key


async def test_durable_run_as_server_sent_events(dclient: Any, durable_state: Any, db_url: str,
                                                 teams_dir: Path) -> None:
    acme, _ = await _tokens(durable_state)
    sse = {**bearer(acme), "Accept": "text/event-stream"}
    async with DurableRuntime(load_team(teams_dir / "support.yaml"), db_url, executor_id="test-worker"):
        r = await dclient.post("/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=sse)
        events = events_of(r.text)
    kinds = [k for _, k, _ in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and {"step_started", "step_finished"} <= set(kinds)
    assert events[-1][2]["status"] == "completed" and events[-1][2]["output"] == "We have corrected your invoice."
    run_id = events[0][2]["run_id"]
    ids = [i for i, _, _ in events[1:-1]]
    assert ids == list(range(len(ids)))
    again = events_of((await dclient.get(f"/v1/runs/{run_id}/events",
                                         headers={**bearer(acme), "Last-Event-ID": "0"})).text)
    assert [i for i, _, _ in again[:-1]] == ids[1:]
    r = await dclient.post("/v1/runs", json={"team": "support", "input": {}}, headers=sse)
    assert [k for _, k, _ in events_of(r.text)] == ["error"] and "query" in r.text


async def test_one_tenants_flood_does_not_hide_anothers_queued_runs(dclient: Any, durable_state: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import llmteam.server._durable as durable_module

    monkeypatch.setattr(durable_module, "MAX_LISTED", 3)  # the listing's bound, small enough to flood in a test
    acme, globex = await _tokens(durable_state)
    body = {"team": "support", "input": {"query": "q"}}
    mine = (await dclient.post("/v1/runs", params={"wait": 0}, json=body, headers=bearer(globex))).json()["run_id"]
    flood = [(await dclient.post("/v1/runs", params={"wait": 0}, json=body, headers=bearer(acme))).json()["run_id"]
             for _ in range(4)]  # more of acme's queued runs than the listing reads
    listed = (await dclient.get("/v1/runs", headers=bearer(globex))).json()["runs"]
    assert [x["run_id"] for x in listed] == [mine]
    listed = (await dclient.get("/v1/runs", headers=bearer(acme))).json()["runs"]
    assert {x["run_id"] for x in listed} <= set(flood) and len(listed) == 3
