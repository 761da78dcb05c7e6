"""API keys: high-entropy bearer tokens stored as digests only, scoped to one tenant, expiring and revocable.

A token reads ``lt_<key id>_<secret>``: the key id (12 hex characters, not secret) finds the stored key, the
secret (64 hex characters, 256 bits) is checked against the stored SHA-256 digest in constant time. The token
is shown once, at creation; nothing that can rebuild it is ever stored. Every key mutation is audited in the
key's tenant chain with the acting key id (or the OS user for the CLI) as actor.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from llmteam.audit import AuditEventType, AuditSeverity, AuditTrail
from llmteam.tenancy import TenantContext

__all__ = [
    "SCOPES",
    "SYSTEM_TENANT",
    "APIKeyError",
    "ApiKey",
    "AuthenticationError",
    "KeyManager",
    "cli_actor",
    "parse_duration",
    "parse_scopes",
]

SCOPES = frozenset({"runs:write", "runs:read", "runs:approve", "usage:read", "audit:read", "mining:read"})
TOKEN_RE = re.compile(r"lt_([0-9a-f]{12})_([0-9a-f]{64})")
TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION_RE = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SYSTEM_TENANT = "_llmteam_server"  # audit chain of failures no tenant can be named for; no key can hold it
_DUMMY_DIGEST = hashlib.sha256(b"llmteam-no-such-key").hexdigest()


class APIKeyError(ValueError):
    """A key operation that cannot be done (bad scope, tenant, duration, unknown key id)."""


class AuthenticationError(Exception):
    """A bearer token that does not authenticate: malformed, unknown, wrong secret, revoked or expired."""

    def __init__(self, reason: str, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key_id = key_id


def digest(secret: str) -> str:
    """SHA-256 of the secret part of a token, hex: what the store keeps."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    """``"runs:write,runs:read"`` (or a list) -> a set of known scopes; an unknown scope is an error naming it."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = frozenset(s.strip() for s in items if s.strip())
    unknown = sorted(scopes - SCOPES)
    if unknown:
        raise APIKeyError(f"unknown scope(s) {', '.join(map(repr, unknown))}; use any of {', '.join(sorted(SCOPES))}")
    return scopes


def parse_duration(text: str | None) -> float | None:
    """``"90d"``, ``"12h"``, ``"30m"``, ``"2w"`` -> seconds; None or ``"never"`` -> None (no expiry)."""
    if text is None or text.strip().lower() == "never":
        return None
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise APIKeyError(f"expiry {text!r} is not a duration; use e.g. 90d, 12h, 30m, 2w or 'never'")
    return int(match.group(1)) * _UNIT[match.group(2)]


def validate_tenant(tenant_id: str) -> str:
    """A tenant id usable in a key: 1-64 characters of letters, digits, ``_ . -``, starting alphanumeric."""
    if not isinstance(tenant_id, str) or not TENANT_RE.fullmatch(tenant_id):
        raise APIKeyError(f"tenant id {tenant_id!r} is not valid; use 1-64 letters, digits, '_', '.', '-'")
    return tenant_id


def cli_actor() -> str:
    """The actor recorded for key changes made from the command line: ``cli:<OS user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (e.g. a container without passwd entry)
        return "cli:unknown"


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat()


@dataclass
class ApiKey:
    """One stored key: its id, tenant, scopes, admin flag, lifetime and the SHA-256 digest of its secret."""

    key_id: str
    tenant_id: str
    digest: str
    scopes: frozenset[str] = frozenset()
    admin: bool = False
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    revoked_at: float | None = None
    name: str = ""
    created_by: str = ""

    def state(self, now: float | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        now = time.time() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output; never the digest."""
        return {
            "key_id": self.key_id, "tenant_id": self.tenant_id, "scopes": sorted(self.scopes), "admin": self.admin,
            "name": self.name, "created_by": self.created_by, "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at), "revoked_at": _iso(self.revoked_at), "state": self.state(),
        }


class KeyManager:
    """Creates, lists, revokes and authenticates keys over a key store, auditing every mutation."""

    def __init__(self, store: Any, audit: AuditTrail) -> None:
        self.store = store
        self.audit = audit

    async def _audit(self, tenant_id: str, event: AuditEventType, actor: str, action: str, key_id: str,
                     *, success: bool = True, error: str | None = None, new_value: dict[str, Any] | None = None,
                     ip: str | None = None) -> None:
        async with TenantContext(tenant_id):
            await self.audit.log(
                event, actor_id=actor, actor_type="user" if actor.startswith("cli:") else "api_key",
                actor_ip=ip or "", action=action, resource_type="api_key", resource_id=key_id, success=success,
                error_message=error or "", new_value=new_value,
                severity=AuditSeverity.INFO if success else AuditSeverity.WARNING,
            )

    async def create(self, tenant_id: str, scopes: str | Iterable[str], *, actor: str, expires_in: float | None = None,
                     admin: bool = False, name: str = "") -> tuple[ApiKey, str]:
        """A new key and its token (shown once). Audited as ACCESS_GRANTED in the key's tenant chain."""
        validate_tenant(tenant_id)
        parsed = parse_scopes(scopes)
        if not parsed and not admin:
            raise APIKeyError("a key needs at least one scope (or --admin); e.g. --scope runs:write,runs:read")
        if expires_in is not None and (not isinstance(expires_in, (int, float)) or expires_in <= 0):
            raise APIKeyError(f"expires_in={expires_in!r} must be a positive number of seconds")
        if len(name) > 200:
            raise APIKeyError("a key name is at most 200 characters")
        key_id, secret = secrets.token_hex(6), secrets.token_hex(32)
        now = time.time()
        key = ApiKey(key_id, tenant_id, digest(secret), parsed, bool(admin), now,
                     None if expires_in is None else now + float(expires_in), None, name, actor)
        await self.store.add(key)
        await self._audit(tenant_id, AuditEventType.ACCESS_GRANTED, actor, "create_api_key", key_id, new_value={
            "scopes": sorted(parsed), "admin": key.admin, "expires_at": _iso(key.expires_at), "name": name})
        return key, f"lt_{key_id}_{secret}"

    async def revoke(self, key_id: str, *, actor: str) -> ApiKey:
        """Revoke a key (idempotent); audited as POLICY_CHANGED in the key's tenant chain."""
        valid = isinstance(key_id, str) and re.fullmatch(r"[0-9a-f]{12}", key_id) is not None
        key: ApiKey | None = await self.store.get(key_id) if valid else None
        if key is None:
            raise APIKeyError(f"no API key with id {key_id!r}; list them with `llmteam keys list`")
        if key.revoked_at is None:
            key = await self.store.revoke(key_id, time.time()) or key
            assert isinstance(key, ApiKey)
            await self._audit(key.tenant_id, AuditEventType.POLICY_CHANGED, actor, "revoke_api_key", key_id)
        return key

    async def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Every key (or one tenant's), oldest first."""
        return list(await self.store.list(tenant_id))

    async def authenticate(self, token: str, *, ip: str | None = None) -> ApiKey:
        """The key a bearer token belongs to; AuthenticationError (audited when a key id was named) otherwise."""
        match = TOKEN_RE.fullmatch(token) if isinstance(token, str) and len(token) < 100 else None
        if match is None:
            await self._audit(SYSTEM_TENANT, AuditEventType.AUTHENTICATION_FAILURE, "anonymous", "authenticate", "-",
                              success=False, error="malformed API key", ip=ip)
            raise AuthenticationError("malformed API key; expected 'Authorization: Bearer lt_<id>_<secret>'")
        key_id, secret = match.group(1), match.group(2)
        key: ApiKey | None = await self.store.get(key_id)
        ok = hmac.compare_digest(key.digest if key is not None else _DUMMY_DIGEST, digest(secret))
        if key is None or not ok:
            # a real key id with the wrong secret goes to its tenant's chain (someone is guessing); others to ours
            await self._audit(key.tenant_id if key is not None else SYSTEM_TENANT,
                              AuditEventType.AUTHENTICATION_FAILURE, "anonymous", "authenticate", key_id,
                              success=False, error="wrong secret" if key is not None else "unknown key id", ip=ip)
            raise AuthenticationError("invalid API key", key_id)
        state = key.state()
        if state != "active":
            await self._audit(key.tenant_id, AuditEventType.AUTHENTICATION_FAILURE, "anonymous", "authenticate",
                              key_id, success=False, error=f"key {state}", ip=ip)
            raise AuthenticationError(f"API key {key_id} is {state}", key_id)
        return key
