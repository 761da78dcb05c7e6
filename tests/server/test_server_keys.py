"""API key logic: token format, digests, scopes, durations, authentication outcomes and their audit records."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditQuery, AuditTrail
from llmteam.audit.stores import MemoryAuditStore
from llmteam.server import APIKeyError, AuthenticationError, KeyManager, parse_duration, parse_scopes
from llmteam.server._keys import SYSTEM_TENANT, TOKEN_RE, digest
from llmteam.server.stores import MemoryKeyStore


@pytest.fixture
def manager() -> KeyManager:
    return KeyManager(MemoryKeyStore(), AuditTrail(MemoryAuditStore(), use_context_tenant=True))


async def _records(manager: KeyManager, tenant: str) -> list[Any]:
    return list(await manager.audit.store.query(AuditQuery(tenant_id=tenant, limit=100, order_by="sequence_number",
                                                           order_desc=False)))


async def test_create_returns_a_token_once_and_stores_its_digest(manager: KeyManager) -> None:
    key, token = await manager.create("acme", "runs:read", actor="cli:alice", expires_in=60)
    match = TOKEN_RE.fullmatch(token)
    assert match and match.group(1) == key.key_id and key.digest == digest(match.group(2))
    assert key.expires_at is not None and key.expires_at - key.created_at == pytest.approx(60)
    assert await manager.authenticate(token) == key
    (record,) = await _records(manager, "acme")
    assert record.event_type is AuditEventType.ACCESS_GRANTED and record.actor_id == "cli:alice"
    assert record.resource_id == key.key_id and token not in repr(record.to_dict())


async def test_two_keys_never_share_a_token(manager: KeyManager) -> None:
    tokens = {(await manager.create("acme", "runs:read", actor="cli:a"))[1] for _ in range(50)}
    assert len(tokens) == 50


@pytest.mark.parametrize("bad", ["", "lt_", "lt_0123456789ab_" + "0" * 63, "LT_0123456789AB_" + "0" * 64,
                                 "lt_0123456789ab_" + "g" * 64, "x" * 10_000, "lt_0123456789ab_" + "0" * 64 + "\n"])
async def test_malformed_tokens_are_refused_and_audited(manager: KeyManager, bad: str) -> None:
    with pytest.raises(AuthenticationError, match="malformed"):
        await manager.authenticate(bad, ip="10.1.1.1")
    (record,) = await _records(manager, SYSTEM_TENANT)
    assert record.event_type is AuditEventType.AUTHENTICATION_FAILURE and record.actor_ip == "10.1.1.1"


async def test_wrong_secret_unknown_id_revoked_and_expired(manager: KeyManager, monkeypatch: Any) -> None:
    key, token = await manager.create("acme", "runs:read", actor="cli:a", expires_in=10)
    with pytest.raises(AuthenticationError, match="invalid"):
        await manager.authenticate(token[:-1] + ("1" if token[-1] == "0" else "0"))
    with pytest.raises(AuthenticationError, match="invalid"):
        await manager.authenticate("lt_ffffffffffff_" + "0" * 64)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 11)
    with pytest.raises(AuthenticationError, match="expired"):
        await manager.authenticate(token)
    monkeypatch.setattr(time, "time", real)
    await manager.revoke(key.key_id, actor="cli:b")
    await manager.revoke(key.key_id, actor="cli:b")  # idempotent: audited once
    with pytest.raises(AuthenticationError, match="revoked"):
        await manager.authenticate(token)
    kinds = [(r.event_type, r.action) for r in await _records(manager, "acme")]
    assert kinds == [
        (AuditEventType.ACCESS_GRANTED, "create_api_key"),
        (AuditEventType.AUTHENTICATION_FAILURE, "authenticate"),
        (AuditEventType.AUTHENTICATION_FAILURE, "authenticate"),
        (AuditEventType.POLICY_CHANGED, "revoke_api_key"),
        (AuditEventType.AUTHENTICATION_FAILURE, "authenticate"),
    ]
    assert [r.error_message for r in await _records(manager, SYSTEM_TENANT)] == ["unknown key id"]


async def test_bad_requests_name_the_bad_value(manager: KeyManager) -> None:
    with pytest.raises(APIKeyError, match="'root'"):
        await manager.create("acme", "runs:read,root", actor="cli:a")
    with pytest.raises(APIKeyError, match="at least one scope"):
        await manager.create("acme", "", actor="cli:a")
    with pytest.raises(APIKeyError, match="tenant id"):
        await manager.create("../etc", "runs:read", actor="cli:a")
    with pytest.raises(APIKeyError, match="no API key"):
        await manager.revoke("nope", actor="cli:a")
    admin, _ = await manager.create("ops", "", actor="cli:a", admin=True)
    assert admin.admin and admin.scopes == frozenset()


def test_durations_and_scopes() -> None:
    assert parse_duration("90d") == 90 * 86400 and parse_duration("12h") == 43200 and parse_duration("2w") == 1209600
    assert parse_duration(None) is None and parse_duration("never") is None
    for bad in ("0d", "-1d", "1y", "d", "1.5d", "99999999d"):
        with pytest.raises(APIKeyError, match=re.escape(repr(bad))):
            parse_duration(bad)
    assert parse_scopes(" runs:read , audit:read,") == {"runs:read", "audit:read"}


@given(st.text(max_size=120))
def test_parse_scopes_accepts_only_known_scopes(text: str) -> None:
    from llmteam.server import SCOPES

    try:
        scopes = parse_scopes(text)
    except APIKeyError:
        return
    assert scopes <= SCOPES
