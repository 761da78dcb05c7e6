"""``/v1/admin``: tenants and API keys, for admin keys only; every change is audited with the admin key as actor."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from llmteam.audit import AuditEventType
from llmteam.server._auth import require_admin, state_of
from llmteam.server._keys import TENANT_RE, ApiKey, APIKeyError, parse_duration
from llmteam.server._problems import Problem
from llmteam.tenancy import TenantAlreadyExistsError, TenantConfig, TenantContext, TenantTier

router = APIRouter(prefix="/v1/admin")
TENANT_PATTERN = TENANT_RE.pattern


class TenantRequest(BaseModel):
    """A tenant to create."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(pattern=TENANT_PATTERN)
    name: str = Field("", max_length=200)
    tier: TenantTier = TenantTier.FREE


class KeyRequest(BaseModel):
    """A key to create; the token is in the response, once."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(pattern=TENANT_PATTERN)
    scopes: list[str] = Field(default_factory=list, max_length=10)
    expires: Optional[str] = Field(None, max_length=16, description="e.g. 90d, 12h; omitted: never")
    admin: bool = False
    name: str = Field("", max_length=200)


@router.get("/tenants", summary="Every tenant")
async def list_tenants(request: Request, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                       key: ApiKey = Depends(require_admin)) -> dict[str, Any]:
    tenants = await state_of(request).tenants.list_tenants(limit, offset)
    return {"tenants": [t.to_dict() for t in tenants]}


@router.post("/tenants", status_code=201, summary="Create a tenant")
async def create_tenant(request: Request, body: TenantRequest, key: ApiKey = Depends(require_admin)) -> dict[str, Any]:
    state = state_of(request)
    try:
        config = await state.tenants.create_tenant(TenantConfig(body.tenant_id, body.name or body.tenant_id,
                                                                tier=body.tier))
    except TenantAlreadyExistsError:
        raise Problem(409, f"tenant {body.tenant_id!r} already exists") from None
    async with TenantContext(body.tenant_id):
        await state.audit.log(AuditEventType.TENANT_CREATED, actor_id=f"key:{key.key_id}", actor_type="api_key",
                              action="create", resource_type="tenant", resource_id=body.tenant_id,
                              new_value={"tier": config.tier.value})
    data: dict[str, Any] = config.to_dict()
    return data


@router.get("/keys", summary="API keys (never their secrets)")
async def list_keys(request: Request, tenant_id: Optional[str] = Query(None, pattern=TENANT_PATTERN),
                    key: ApiKey = Depends(require_admin)) -> dict[str, Any]:
    return {"keys": [k.to_dict() for k in await state_of(request).keys.list(tenant_id)]}


@router.post("/keys", status_code=201, summary="Create an API key; the token is shown once")
async def create_key(request: Request, body: KeyRequest, key: ApiKey = Depends(require_admin)) -> JSONResponse:
    try:
        new, token = await state_of(request).keys.create(
            body.tenant_id, body.scopes, actor=f"key:{key.key_id}", expires_in=parse_duration(body.expires),
            admin=body.admin, name=body.name)
    except APIKeyError as exc:
        raise Problem(422, str(exc)) from None
    return JSONResponse({**new.to_dict(), "token": token}, status_code=201)


@router.delete("/keys/{key_id}", summary="Revoke an API key")
async def revoke_key(request: Request, key_id: str = Path(pattern=r"^[0-9a-f]{12}$"),
                     key: ApiKey = Depends(require_admin)) -> dict[str, Any]:
    try:
        revoked = await state_of(request).keys.revoke(key_id, actor=f"key:{key.key_id}")
    except APIKeyError:
        raise Problem(404, f"no API key {key_id!r}") from None
    return revoked.to_dict()
