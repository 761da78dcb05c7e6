"""Tenant isolation through the API as a property: for random interleavings of two tenants' keys and requests,
no response to one tenant's key ever contains the other's runs, inputs, outputs, usage or audit records, and
every per-run route (read, follow as SSE, cancel, approve, deny) answers 404 for the other tenant's runs."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmteam.server import create_app
from llmteam.server._state import ServerState, load_teams
from tests.server.conftest import ALL_SCOPES, TEAM_YAML, bearer

TENANTS = ("acme", "globex")
READS = ["/v1/runs", "/v1/usage", "/v1/audit/records", "/v1/audit/export", "/v1/audit/verify",
         "/v1/mining/metrics", "/v1/mining/xes", "/v1/mining/map.svg", "/v1/audit/consistency?from=1",
         "/v1/audit/records/1/proof"]
OTHER_RUN = [("GET", "/v1/runs/{}"), ("GET", "/v1/runs/{}/events"), ("POST", "/v1/runs/{}/cancel"),
             ("POST", "/v1/runs/{}/approve"), ("POST", "/v1/runs/{}/deny")]
OPS = st.lists(st.tuples(st.sampled_from(TENANTS), st.sampled_from(["run", "stream", "own", "other", *READS])),
               min_size=1, max_size=10)


async def _scenario(ops: list[tuple[str, str]], root: Path) -> None:
    (root / "teams").mkdir()
    (root / "teams" / "support.yaml").write_text(TEAM_YAML)
    state = await ServerState(f"sqlite:///{root / 'db.sqlite'}", load_teams(root / "teams")).open()
    try:
        tokens = {t: (await state.keys.create(t, ALL_SCOPES, actor="cli:test"))[1] for t in TENANTS}
        runs: dict[str, list[str]] = {t: [] for t in TENANTS}
        markers: dict[str, list[str]] = {t: [] for t in TENANTS}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state=state)),
                                     base_url="http://t") as client:
            for i, (tenant, op) in enumerate(ops):
                other = TENANTS[1 - TENANTS.index(tenant)]
                auth = bearer(tokens[tenant])
                if op in ("run", "stream"):
                    marker = f"marker-{tenant}-{i}"
                    sse = {"Accept": "text/event-stream"} if op == "stream" else {}
                    r = await client.post("/v1/runs", json={"team": "support", "input": {"query": marker}},
                                          headers={**auth, **sse})
                    assert r.status_code == (200 if sse else 201), r.text
                    run_id = (json.loads(r.text.split("data: ", 1)[1].split("\n", 1)[0]) if sse else r.json())["run_id"]
                    runs[tenant].append(run_id)
                    markers[tenant].append(marker)
                elif op == "own":
                    for run_id in runs[tenant]:
                        r = await client.get(f"/v1/runs/{run_id}", headers=auth)
                        assert r.status_code == 200 and r.json()["tenant_id"] == tenant
                        events = await client.get(f"/v1/runs/{run_id}/events", headers=auth)
                        assert events.status_code == 200 and '"status": "completed"' in events.text
                elif op == "other":
                    for run_id in runs[other]:
                        for method, path in OTHER_RUN:
                            body = {"reason": "no"} if path.endswith("deny") else None
                            r = await client.request(method, path.format(run_id), headers=auth, json=body)
                            assert r.status_code == 404, (method, path, r.text)  # not 403: no enumeration
                            assert run_id not in r.text
                else:
                    r = await client.get(op, headers=auth)
                    assert r.status_code in (200, 404), (op, r.text)
                    body = r.text
                    for leaked in (*runs[other], *markers[other]):
                        assert leaked not in body, (tenant, op, leaked)
                    assert f'"{other}"' not in body and f"'{other}'" not in body, (tenant, op)
    finally:
        await state.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
@example([("acme", "run"), ("globex", "other")])  # a 404 once echoed the requested path (the other's run id)
@example([("acme", "stream"), ("acme", "own"), ("globex", "other"), ("globex", "/v1/audit/consistency?from=1")])
def test_no_response_to_one_tenant_contains_the_others_data(ops: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(ops, Path(tmp)))
