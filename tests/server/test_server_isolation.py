"""Tenant isolation through the API as a property: for random interleavings of two tenants' keys and requests,
no response to one tenant's key ever contains the other's runs, inputs, outputs, usage or audit records."""

from __future__ import annotations

import asyncio
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
         "/v1/mining/metrics", "/v1/mining/xes", "/v1/mining/map.svg"]
OPS = st.lists(st.tuples(st.sampled_from(TENANTS), st.sampled_from(["run", "own", "other", *READS])),
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
                if op == "run":
                    marker = f"marker-{tenant}-{i}"
                    r = await client.post("/v1/runs", json={"team": "support", "input": {"query": marker}},
                                          headers=auth)
                    assert r.status_code == 201, r.text
                    runs[tenant].append(r.json()["run_id"])
                    markers[tenant].append(marker)
                elif op == "own":
                    for run_id in runs[tenant]:
                        r = await client.get(f"/v1/runs/{run_id}", headers=auth)
                        assert r.status_code == 200 and r.json()["tenant_id"] == tenant
                elif op == "other":
                    for run_id in runs[other]:
                        r = await client.get(f"/v1/runs/{run_id}", headers=auth)
                        assert r.status_code == 404  # not 403: no enumeration
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
def test_no_response_to_one_tenant_contains_the_others_data(ops: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(ops, Path(tmp)))
