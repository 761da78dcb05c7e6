"""Authentication and authorisation at the edge: bearer keys, revocation, expiry, rate limits, admin, audit."""

from __future__ import annotations

import time
from typing import Any

from llmteam.audit import AuditEventType, AuditQuery
from tests.server.conftest import bearer


async def _failures(state: Any, tenant: str) -> list[Any]:
    records = await state.audit_store.query(AuditQuery(tenant_id=tenant, limit=1000))
    return [r for r in records if r.event_type is AuditEventType.AUTHENTICATION_FAILURE]


async def test_missing_malformed_and_wrong_keys_are_401(client: Any, make_key: Any, state: Any) -> None:
    token = await make_key()
    wrong_secret = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("lt_nope"), bearer(wrong_secret)):
        r = await client.get("/v1/runs", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.headers["content-type"] == "application/problem+json"
    # the wrong secret for a real key id is audited in that key's tenant chain, as a failure
    failures = await _failures(state, "acme")
    assert len(failures) == 1 and failures[0].actor_ip == "127.0.0.1" and failures[0].success is False


async def test_revoked_and_expired_keys_are_refused(client: Any, make_key: Any, state: Any, monkeypatch: Any) -> None:
    token = await make_key(expires_in=3600)
    assert (await client.get("/v1/runs", headers=bearer(token))).status_code == 200
    key_id = token.split("_")[1]
    await state.keys.revoke(key_id, actor="cli:test")
    r = await client.get("/v1/runs", headers=bearer(token))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    expiring = await make_key(expires_in=60)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    r = await client.get("/v1/runs", headers=bearer(expiring))
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_failed_authentication_is_rate_limited_per_address(db_url: str, teams_dir: Any) -> None:
    import httpx

    from llmteam.server import create_app
    from llmteam.server._state import ServerState, load_teams

    state = await ServerState(db_url, load_teams(teams_dir), auth_failures_per_minute=3).open()
    try:
        _, good = await state.keys.create("acme", "runs:read", actor="cli:test")
        app = create_app(state=state)
        attacker = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.9", 1)),
                                     base_url="http://t")
        other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.7", 1)),
                                  base_url="http://t")
        codes = [(await attacker.get("/v1/runs", headers=bearer(f"lt_{i:012x}_{'0' * 64}"))).status_code
                 for i in range(6)]
        assert codes[:3] == [401, 401, 401] and set(codes[3:]) == {429}
        # while locked out even the right key is refused from that address; other addresses are unaffected
        r = await attacker.get("/v1/runs", headers=bearer(good))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert (await other.get("/v1/runs", headers=bearer(good))).status_code == 200
        await attacker.aclose()
        await other.aclose()
    finally:
        await state.close()


async def test_per_key_rate_limit(db_url: str, teams_dir: Any) -> None:
    import httpx

    from llmteam.server import create_app
    from llmteam.server._state import ServerState, load_teams

    state = await ServerState(db_url, load_teams(teams_dir), key_rate_per_minute=2, key_burst=2).open()
    try:
        _, a = await state.keys.create("acme", "runs:read", actor="cli:test")
        _, b = await state.keys.create("acme", "runs:read", actor="cli:test")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state=state)),
                                     base_url="http://t") as client:
            codes = [(await client.get("/v1/runs", headers=bearer(a))).status_code for _ in range(4)]
            assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
            assert (await client.get("/v1/runs", headers=bearer(b))).status_code == 200
    finally:
        await state.close()


async def test_admin_manages_tenants_and_keys_and_every_change_is_audited(client: Any, make_key: Any,
                                                                          state: Any) -> None:
    admin = await make_key(tenant="ops", scopes="", admin=True)
    plain = await make_key(tenant="acme")
    assert (await client.get("/v1/admin/tenants", headers=bearer(plain))).status_code == 403
    r = await client.post("/v1/admin/tenants", json={"tenant_id": "globex", "tier": "enterprise"},
                          headers=bearer(admin))
    assert r.status_code == 201 and r.json()["tier"] == "enterprise"
    assert (await client.post("/v1/admin/tenants", json={"tenant_id": "globex"}, headers=bearer(admin))).status_code \
        == 409
    r = await client.post("/v1/admin/keys", json={"tenant_id": "globex", "scopes": ["runs:read"], "expires": "1d"},
                          headers=bearer(admin))
    assert r.status_code == 201
    created = r.json()
    token, key_id = created["token"], created["key_id"]
    assert (await client.get("/v1/runs", headers=bearer(token))).status_code == 200
    listed = (await client.get("/v1/admin/keys", params={"tenant_id": "globex"}, headers=bearer(admin))).json()
    assert [k["key_id"] for k in listed["keys"]] == [key_id] and "token" not in listed["keys"][0]
    assert "digest" not in listed["keys"][0]
    assert (await client.delete(f"/v1/admin/keys/{key_id}", headers=bearer(admin))).json()["state"] == "revoked"
    assert (await client.get("/v1/runs", headers=bearer(token))).status_code == 401
    admin_id = admin.split("_")[1]
    records = await state.audit_store.query(AuditQuery(tenant_id="globex", limit=100, order_by="sequence_number",
                                                       order_desc=False))
    assert [(r.action, r.actor_id) for r in records if r.resource_type in ("tenant", "api_key")
            and r.success] == [("create", f"key:{admin_id}"), ("create_api_key", f"key:{admin_id}"),
                               ("revoke_api_key", f"key:{admin_id}")]
    r = await client.post("/v1/admin/keys", json={"tenant_id": "globex", "scopes": ["root"]}, headers=bearer(admin))
    assert r.status_code == 422 and "root" in r.json()["detail"]


async def test_the_token_is_never_stored(state: Any, make_key: Any) -> None:
    token = await make_key()
    key_id, secret = token.split("_")[1], token.split("_")[2]
    stored = await state.key_store.get(key_id)
    assert secret not in repr(stored) and stored.digest != secret and len(stored.digest) == 64


async def test_failures_from_many_addresses_do_not_reset_a_keys_rate_limit(db_url: str, teams_dir: Any) -> None:
    import httpx

    from llmteam.server import create_app
    from llmteam.server._state import ServerState, load_teams

    state = await ServerState(db_url, load_teams(teams_dir), key_rate_per_minute=2, key_burst=2,
                              max_limiters=20).open()
    try:
        _, key = await state.keys.create("acme", "runs:read", actor="cli:test")
        app = create_app(state=state)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            codes = [(await client.get("/v1/runs", headers=bearer(key))).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            for i in range(50):  # an attacker with many addresses (an IPv6 prefix) fails once from each
                spoofed = httpx.ASGITransport(app=app, client=(f"2001:db8::{i:x}", 1))
                async with httpx.AsyncClient(transport=spoofed, base_url="http://t") as other:
                    await other.get("/v1/runs", headers=bearer(f"lt_{i:012x}_{'0' * 64}"))
            assert (await client.get("/v1/runs", headers=bearer(key))).status_code == 429  # still over its rate
    finally:
        await state.close()
