"""Dashboard sessions: cookie flags, CSRF, expiry and bounds, and revocation ending a session."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.server._session import MAX_SESSIONS_PER_KEY, SESSION_SECONDS, Sessions


async def login(client: Any, token: str) -> str:
    page = await client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = await client.post("/ui/login", data={"csrf": csrf, "api_key": token})
    assert r.status_code == 303 and r.headers["location"] == "/ui/", r.text
    return str(re.search(r'name="csrf" value="([^"]+)"', (await client.get("/ui/")).text).group(1))


async def test_session_cookie_is_httponly_strict_and_holds_no_key(client: Any, make_key: Any) -> None:
    token = await make_key()
    page = await client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = await client.post("/ui/login", data={"csrf": csrf, "api_key": token})
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("lt_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    sid = cookie.split(";")[0].split("=", 1)[1]
    assert token not in cookie and token.split("_")[2] not in sid


async def test_login_needs_the_login_forms_token(client: Any, make_key: Any) -> None:
    token = await make_key()
    r = await client.post("/ui/login", data={"csrf": "forged", "api_key": token})
    assert r.status_code == 403
    assert "lt_session" not in r.headers.get("set-cookie", "")


async def test_bad_key_shows_the_form_again(client: Any) -> None:
    page = await client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = await client.post("/ui/login", data={"csrf": csrf, "api_key": "lt_nope"})
    assert r.status_code == 401 and "not valid" in r.text and "lt_session" not in r.headers.get("set-cookie", "")


async def test_forms_without_the_csrf_token_are_refused(client: Any, make_key: Any, state: Any) -> None:
    await login(client, await make_key())
    r = await client.post("/ui/runs", data={"team": "support", "var_query": "x"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await client.post("/ui/runs", data={"csrf": "x" * 43, "team": "support", "var_query": "x"})
    assert r.status_code == 403
    assert await state.run_store.list("acme", 10, 0) == []


async def test_revoking_the_key_ends_the_session(client: Any, make_key: Any, state: Any) -> None:
    token = await make_key()
    await login(client, token)
    assert (await client.get("/ui/")).status_code == 200
    await state.keys.revoke(token.split("_")[1], actor="cli:test")
    r = await client.get("/ui/")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_logout(client: Any, make_key: Any) -> None:
    csrf = await login(client, await make_key())
    r = await client.post("/ui/logout", data={"csrf": csrf})
    assert r.status_code == 303
    assert (await client.get("/ui/")).status_code == 303


def test_sessions_expire_and_are_bounded(monkeypatch: Any) -> None:
    sessions = Sessions(max_sessions=3)
    ids = [sessions.create(f"k{i}")[0] for i in range(5)]
    assert sessions.get(ids[0]) is None and sessions.get(ids[4]) is not None
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + SESSION_SECONDS + 1)
    assert sessions.get(ids[4]) is None
    assert sessions.get(None) is None and sessions.get("x" * 1000) is None


def test_one_keys_logins_never_end_another_keys_session() -> None:
    # review, 2026-11-29: 16,001 logins with one runs:read key pushed every other user (any tenant) out
    sessions = Sessions(max_sessions=100)
    victim, _ = sessions.create("victim-key")
    attacker = [sessions.create("attacker-key")[0] for _ in range(1000)]
    assert sessions.get(victim) is not None
    assert [sid for sid in attacker if sessions.get(sid) is not None] == attacker[-MAX_SESSIONS_PER_KEY:]
    assert len(sessions._items) == 1 + MAX_SESSIONS_PER_KEY and set(sessions._by_key) == {"victim-key",
                                                                                           "attacker-key"}
    sessions.drop(victim)
    assert "victim-key" not in sessions._by_key  # nothing kept for a key without sessions


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["create", "drop"]), st.sampled_from(["a", "b", "c"])), max_size=60),
       st.integers(1, 8), st.integers(1, 4))
def test_sessions_stay_within_both_bounds_and_the_key_index_matches(
    steps: list[tuple[str, str]], most: int, per_key: int,
) -> None:
    sessions = Sessions(max_sessions=most, max_per_key=per_key)
    made: list[str] = []
    for action, key in steps:
        if action == "create":
            made.append(sessions.create(key)[0])
        elif made:
            sessions.drop(made.pop(0))
        assert len(sessions._items) <= most
        assert {k: len(v) for k, v in sessions._by_key.items()} == dict(
            Counter(s.key_id for s in sessions._items.values()))
        assert all(len(v) <= per_key for v in sessions._by_key.values())
