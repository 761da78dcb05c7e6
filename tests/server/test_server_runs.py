"""Runs in process through the API: follow a run as SSE (with Last-Event-ID), cancel it, approvals refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmteam.audit import AuditQuery
from tests.server.conftest import TEAM_YAML, bearer, make_token, poll, serving

SLOW_YAML = TEAM_YAML.replace("team: support", "team: slow").replace("model: scripted-small",
                                                                      "model: scripted-small\n  delay: 30")


def events_of(text: str) -> list[tuple[int | None, str, dict[str, Any]]]:
    """(id, event, data) of each server-sent event."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((int(fields["id"]) if "id" in fields else None, fields["event"], json.loads(fields["data"])))
    return out


async def test_follow_a_finished_run_and_resume_after_an_event(client: Any, make_key: Any) -> None:
    token = await make_key()
    run = (await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}},
                             headers=bearer(token))).json()
    r = await client.get(f"/v1/runs/{run['run_id']}/events", headers=bearer(token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = events_of(r.text)
    kinds = [k for _, k, _ in events]
    assert kinds[0] == "step_started" and kinds[-1] == "run_finished" and "step_finished" in kinds
    assert [i for i, _, _ in events[:-1]] == list(range(len(events) - 1))
    assert events[-1][2]["output"] == "We have corrected your invoice."
    again = events_of((await client.get(f"/v1/runs/{run['run_id']}/events",
                                        headers={**bearer(token), "Last-Event-ID": "1"})).text)
    assert [i for i, _, _ in again[:-1]] == list(range(2, len(events) - 1))  # resumes after the last seen event


async def test_cancel_a_running_run(client: Any, make_key: Any, state: Any, teams_dir: Path) -> None:
    (teams_dir / "slow.yaml").write_text(SLOW_YAML)
    await state.reload_teams()
    token = await make_key()
    r = await client.post("/v1/runs", params={"wait": 0}, json={"team": "slow", "input": {"query": "q"}},
                          headers=bearer(token))
    run_id = r.json()["run_id"]
    while (await state.run_store.get("acme", run_id)) is None:  # admitted: the model call is under way
        await asyncio.sleep(0.05)
    reader = await make_key(scopes="runs:read")
    assert (await client.post(f"/v1/runs/{run_id}/cancel", headers=bearer(reader))).status_code == 403
    r = await client.post(f"/v1/runs/{run_id}/cancel", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert (await client.get(f"/v1/runs/{run_id}", headers=bearer(token))).json()["status"] == "cancelled"
    listed = (await client.get("/v1/runs", params={"status": "cancelled"}, headers=bearer(token))).json()["runs"]
    assert [x["run_id"] for x in listed] == [run_id]
    r = await client.post(f"/v1/runs/{run_id}/cancel", headers=bearer(token))
    assert r.status_code == 409 and "has ended" in r.json()["detail"]
    records = await state.audit_store.query(AuditQuery(tenant_id="acme", run_id=run_id, limit=100))
    cancels = [x for x in records if x.event_type.value == "pipeline.cancelled"]
    assert len(cancels) == 1 and cancels[0].actor_id.startswith("key:")


async def test_approvals_need_durable_runs(client: Any, make_key: Any) -> None:
    token = await make_key(scopes="runs:write,runs:read,runs:approve")
    run = (await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}},
                             headers=bearer(token))).json()
    r = await client.post(f"/v1/runs/{run['run_id']}/approve", json={"step": 1}, headers=bearer(token))
    assert r.status_code == 409 and "--durable" in r.json()["detail"]
    r = await client.post(f"/v1/runs/{run['run_id']}/deny", json={"reason": " "}, headers=bearer(token))
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    no_scope = await make_key(scopes="runs:write,runs:read")
    r = await client.post(f"/v1/runs/{run['run_id']}/approve", headers=bearer(no_scope))
    assert r.status_code == 403 and "runs:approve" in r.json()["detail"]


@pytest.mark.timeout(300)  # a real server process: a hang guard
def test_end_to_end_stream_disconnect_cancels_and_teams_reload(tmp_path: Path) -> None:
    """Against a real uvicorn: a streaming client that goes away cancels its run; a team file added while the
    server runs is served without a restart."""
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "slow.yaml").write_text(SLOW_YAML)
    token = asyncio.run(make_token(tmp_path / "llmteam.db"))
    auth = bearer(token)
    with serving(tmp_path, "--db", "sqlite:///llmteam.db", "--teams", "teams") as base:
        with httpx.stream("POST", f"{base}/v1/runs", json={"team": "slow", "input": {"query": "q"}},
                          headers={**auth, "Accept": "text/event-stream"}, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    run_id = json.loads(line[5:])["run_id"]
                if line == "event: step_started":  # admitted, the model call is under way: now go away
                    break
        status = poll(lambda: httpx.get(f"{base}/v1/runs/{run_id}", headers=auth).json().get("status"),
                      lambda s: s not in (None, "running"))
        assert status == "cancelled"
        (tmp_path / "teams" / "support.yaml").write_text(TEAM_YAML)
        names = poll(lambda: [t["name"] for t in httpx.get(f"{base}/v1/teams", headers=auth).json()["teams"]],
                     lambda n: "support" in n)
        assert sorted(names) == ["slow", "support"]
        r = httpx.post(f"{base}/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=auth, timeout=60)
        assert r.status_code == 201 and r.json()["output"] == "We have corrected your invoice."


async def test_hostile_input_on_the_run_and_team_routes(client: Any, make_key: Any, state: Any,
                                                        teams_dir: Path) -> None:
    token, admin = await make_key(), await make_key(admin=True)
    run = (await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}},
                             headers=bearer(token))).json()
    events = f"/v1/runs/{run['run_id']}/events"
    for bad in ("abc", "-1", "1\r\nX-Injected: 1", str(2**40)):
        r = await client.get(events, headers={**bearer(token), "Last-Event-ID": bad.replace("\r\n", " ")})
        assert r.status_code == 422 and "last-event-id" in r.json()["detail"], bad
    for body in ({"reason": "x" * 2001}, {"step": 0}, {"step": "1; drop"}, {"approver": "key:forged"}):
        r = await client.post(f"/v1/runs/{run['run_id']}/deny", json=body, headers=bearer(token))
        assert r.status_code == 422, body  # the approver is always the key: a body cannot name one
    for run_id in ("..%2F..%2Fetc", "a" * 65, "x y"):
        r = await client.post(f"/v1/runs/{run_id}/cancel", headers=bearer(token))
        assert r.status_code in (404, 422), run_id
    r = await client.post("/v1/teams", content=b"team: x", headers={**bearer(admin), "Content-Type": "text/yaml"})
    assert r.status_code == 415
    r = await client.post("/v1/teams", json={"yaml": "x" * (1 << 20)}, headers=bearer(admin))
    assert r.status_code == 413
    assert sorted(p.name for p in teams_dir.iterdir()) == ["support.yaml"]  # nothing written


# -- review, 2026-11-29: one tenant's readers must not turn other tenants' runs away --------------------------------
async def test_following_runs_never_takes_the_places_of_runs_and_is_bounded_per_tenant(
    client: Any, make_key: Any, state: Any,
) -> None:
    from llmteam.server import _runs

    acme = await make_key()
    evil = await make_key(tenant="evil")
    run = (await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}},
                             headers=bearer(evil))).json()
    # the attacker's move: hundreds of open follow streams (held here as taken places)
    state.followers["evil"] = _runs.MAX_FOLLOWERS_PER_TENANT
    state.max_inflight = 4
    r = await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=bearer(acme))
    assert r.status_code == 201, r.text  # before: 503 "the server runs ... runs already"
    r = await client.get(f"/v1/runs/{run['run_id']}/events", headers=bearer(evil))
    assert r.status_code == 429 and "follows 32 runs' events" in r.text
    mine = r = await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=bearer(acme))
    r = await client.get(f"/v1/runs/{mine.json()['run_id']}/events", headers=bearer(acme))
    assert r.status_code == 200 and events_of(r.text)[-1][1] == "run_finished"  # another tenant still follows
    assert state.followers == {"evil": _runs.MAX_FOLLOWERS_PER_TENANT}  # its place given back when it ended
    state.followers["evil"] = _runs.MAX_FOLLOWERS  # the whole server's bound
    r = await client.get(f"/v1/runs/{mine.json()['run_id']}/events", headers=bearer(acme))
    assert r.status_code == 503 and "Retry-After" in r.headers


async def test_a_follow_stream_started_past_the_bound_ends_with_the_refusal(state: Any) -> None:
    from llmteam.server import _runs

    state.followers["acme"] = _runs.MAX_FOLLOWERS_PER_TENANT  # filled between the route's check and the stream
    chunks = [c async for c in _runs.follow_run(state, "acme", "r" * 32, 0)]
    assert len(chunks) == 1 and b"event: error" in chunks[0] and b"429" in chunks[0]
    assert state.followers["acme"] == _runs.MAX_FOLLOWERS_PER_TENANT


async def test_open_follow_streams_of_a_slow_run_do_not_refuse_another_tenants_run(
    client: Any, make_key: Any, state: Any, teams_dir: Path,
) -> None:
    # the attacker's move itself: streams that stay open on a run that does not end (before: 503 for acme)
    from llmteam.server import _runs

    (teams_dir / "slow.yaml").write_text(SLOW_YAML)
    await state.reload_teams()
    acme, evil = await make_key(), await make_key(tenant="evil")
    run_id = (await client.post("/v1/runs", params={"wait": 0}, json={"team": "slow", "input": {"query": "q"}},
                                headers=bearer(evil))).json()["run_id"]
    state.max_inflight = 4

    async def follow() -> None:
        async for _ in _runs.follow_run(state, "evil", run_id, 0):
            pass

    followers = [asyncio.create_task(follow()) for _ in range(4)]
    try:
        while state.streams + sum(getattr(state, "followers", {}).values()) < 4:  # every stream open
            await asyncio.sleep(0.01)
        r = await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=bearer(acme))
        assert r.status_code == 201, r.text
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        await client.post(f"/v1/runs/{run_id}/cancel", headers=bearer(evil))
