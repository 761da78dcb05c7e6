"""Hostile input: oversized bodies, deep JSON, bad content types, header injection, path traversal -> a clear 4xx
each, and nothing written (no run, no audit record)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmteam.audit import AuditQuery
from llmteam.server._guard import json_depth_exceeds
from tests.server.conftest import bearer


async def _nothing_written(state: Any, audit_before: int) -> None:
    assert await state.run_store.list("acme", 10, 0) == []
    after = await state.audit_store.query(AuditQuery(tenant_id="acme", limit=1000))
    assert len(after) == audit_before


async def _audit_count(state: Any) -> int:
    return len(await state.audit_store.query(AuditQuery(tenant_id="acme", limit=1000)))


async def test_oversized_body_is_413(client: Any, make_key: Any, state: Any) -> None:
    token = await make_key()
    before = await _audit_count(state)
    big = json.dumps({"team": "support", "input": {"query": "x" * (2 << 20)}})
    r = await client.post("/v1/runs", content=big, headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    async def chunks() -> Any:  # no Content-Length: the guard counts what arrives
        for _ in range(40):
            yield b"x" * 65536

    r = await client.post("/v1/runs", content=chunks(), headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 413
    await _nothing_written(state, before)


async def test_deep_json_is_400(client: Any, make_key: Any, state: Any) -> None:
    token = await make_key()
    before = await _audit_count(state)
    deep = '{"team": "support", "input": {"query": ' + "[" * 5000 + "]" * 5000 + "}}"
    r = await client.post("/v1/runs", content=deep, headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 400 and "nested deeper" in r.json()["detail"]
    await _nothing_written(state, before)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
                                   "application/xml", ""])
async def test_bad_content_type_is_415(client: Any, make_key: Any, state: Any, ctype: str) -> None:
    token = await make_key()
    before = await _audit_count(state)
    headers = {**bearer(token)}
    if ctype:
        headers["Content-Type"] = ctype
    r = await client.post("/v1/runs", content=b'{"team": "support", "input": {"query": "x"}}', headers=headers)
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    await _nothing_written(state, before)


@pytest.mark.parametrize("team", ["../support", "..%2Fsupport", "/etc/passwd", "support/../../x", "support\x00",
                                  "sup port", "x" * 200, "support.yaml"])
async def test_path_traversal_in_team_names_is_refused(client: Any, make_key: Any, state: Any, team: str) -> None:
    token = await make_key()
    before = await _audit_count(state)
    r = await client.post("/v1/runs", json={"team": team, "input": {"query": "x"}}, headers=bearer(token))
    assert r.status_code == 422 and "team" in r.json()["detail"]
    r = await client.get("/v1/mining/metrics", params={"team": team}, headers=bearer(token))
    assert r.status_code == 422
    await _nothing_written(state, before)


async def test_header_injection_is_impossible(client: Any, make_key: Any, state: Any) -> None:
    token = await make_key()
    before = await _audit_count(state)
    evil = "support\r\nSet-Cookie: owned=1"
    r = await client.post("/v1/runs", json={"team": evil, "input": {"query": "x"}}, headers=bearer(token))
    assert r.status_code == 422 and "set-cookie" not in r.headers
    r = await client.get("/v1/runs/abc%0d%0aSet-Cookie:%20owned=1", headers=bearer(token))
    assert r.status_code == 422 and "set-cookie" not in r.headers
    r = await client.get("/v1/runs", params={"team": evil}, headers=bearer(token))
    assert r.status_code == 422 and "set-cookie" not in r.headers
    # a CR/LF inside the bearer token cannot smuggle a header either: the client refuses to send it, and a raw
    # token with a newline is simply not a key
    r = await client.get("/v1/runs", headers=bearer("lt_x%0d%0aX-Evil:%201"))
    assert r.status_code == 401 and "x-evil" not in r.headers
    await _nothing_written(state, before)


async def test_security_headers_on_every_response(client: Any) -> None:
    r = await client.get("/healthz")
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                    max_leaves=30))
def test_depth_scanner_matches_the_parsed_depth(doc: Any) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    text = json.dumps(doc).encode()
    d = depth(doc)
    assert not json_depth_exceeds(text, d)
    if d > 0:
        assert json_depth_exceeds(text, d - 1)
