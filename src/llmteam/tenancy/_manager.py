"""TenantManager: tenant CRUD over a TenantStore, with a bounded (optionally expiring) cache and limit checks."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from llmteam.licensing import LicenseTier, check_builtin_gate
from llmteam.tenancy._config import TenantConfig
from llmteam.tenancy._context import TenantContext
from llmteam.tenancy._errors import (
    TenantAlreadyExistsError,
    TenantFeatureDisabledError,
    TenantLimitExceededError,
    TenantNotFoundError,
)
from llmteam.tenancy._limits import ZERO_LIMITS, TenantLimits, within_limit
from llmteam.tenancy._protocols import TenantStore

LIMIT_TYPES = {
    "concurrent_pipelines": "max_concurrent_pipelines",
    "agents_per_pipeline": "max_agents_per_pipeline",
    "requests_per_minute": "max_requests_per_minute",
    "runs_per_day": "max_runs_per_day",
}


class _Entry:
    """A cached tenant: a private copy of its config and its effective limits, precomputed."""

    __slots__ = ("active", "config", "limits", "loaded_at", "maxima")

    def __init__(self, config: TenantConfig, loaded_at: float) -> None:
        self.config = config
        self.active = config.is_active
        self.limits = _effective(config)
        self.maxima = {name: getattr(self.limits, attr) for name, attr in LIMIT_TYPES.items()}
        self.loaded_at = loaded_at


def _effective(config: TenantConfig) -> TenantLimits:
    return config.get_effective_limits() if config.is_active else ZERO_LIMITS.copy()


class TenantManager:
    """Create, read, update and delete tenants, and answer "may this tenant do X?" from a cache.

    With ``cache_ttl`` (seconds) a cached entry older than the TTL is re-read from the store, so a change made
    by another process sharing the store is seen within the TTL; ``None`` caches until this manager changes
    or invalidates the tenant. The cache holds at most ``max_cache_entries`` tenants (oldest evicted first).
    An inactive tenant has every limit 0 and no features.
    """

    def __init__(
        self,
        store: TenantStore,
        cache_enabled: bool = True,
        cache_ttl: float | None = None,
        *,
        max_cache_entries: int = 10_000,
    ) -> None:
        check_builtin_gate("TenantManager", LicenseTier.ENTERPRISE)
        if cache_ttl is not None and (isinstance(cache_ttl, bool) or not cache_ttl >= 0):
            raise ValueError(f"cache_ttl={cache_ttl!r} must be None (no expiry) or a number of seconds >= 0")
        if max_cache_entries < 1:
            raise ValueError(f"max_cache_entries={max_cache_entries!r} must be at least 1")
        self.store = store
        self.cache_enabled = cache_enabled
        self.cache_ttl = cache_ttl
        self.max_cache_entries = max_cache_entries
        self._cache: dict[str, _Entry] = {}

    # -- cache -------------------------------------------------------------------------------------
    def _remember(self, config: TenantConfig) -> _Entry:
        entry = _Entry(config.copy(), time.monotonic())
        if self.cache_enabled:
            cache = self._cache
            cache.pop(config.tenant_id, None)
            if len(cache) >= self.max_cache_entries:
                del cache[next(iter(cache))]
            cache[config.tenant_id] = entry
        return entry

    async def _entry(self, tenant_id: str) -> _Entry:
        entry = self._cache.get(tenant_id) if self.cache_enabled else None
        if entry is not None and (self.cache_ttl is None or time.monotonic() - entry.loaded_at < self.cache_ttl):
            return entry
        config = await self.store.get(tenant_id)
        if config is None:
            self._cache.pop(tenant_id, None)
            raise TenantNotFoundError(f"tenant {tenant_id!r} does not exist; create it with create_tenant()")
        return self._remember(config)

    def invalidate_cache(self, tenant_id: str | None = None) -> None:
        """Forget one cached tenant, or all of them."""
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    def preload_cache(self, configs: Iterable[TenantConfig]) -> None:
        """Put copies of ``configs`` into the cache (e.g. after a bulk load)."""
        for config in configs:
            self._remember(config)

    # -- CRUD ----------------------------------------------------------------------------------------
    async def get_tenant(self, tenant_id: str) -> TenantConfig:
        """A copy of the tenant's config; TenantNotFoundError if it does not exist."""
        return (await self._entry(tenant_id)).config.copy()

    async def create_tenant(self, config: TenantConfig) -> TenantConfig:
        """Store a new tenant (timestamps set to now); TenantAlreadyExistsError if the id is taken."""
        config.validate()
        if await self.store.get(config.tenant_id) is not None:
            raise TenantAlreadyExistsError(f"tenant {config.tenant_id!r} already exists; use update_tenant()")
        now = datetime.now()
        config.created_at = now
        config.updated_at = now
        await self.store.create(config)
        self._remember(config)
        return config

    async def update_tenant(self, config: TenantConfig) -> TenantConfig:
        """Replace a tenant's config (updated_at set to now); TenantNotFoundError if it does not exist."""
        config.validate()
        if await self.store.get(config.tenant_id) is None:
            self._cache.pop(config.tenant_id, None)
            raise TenantNotFoundError(f"tenant {config.tenant_id!r} does not exist; create it with create_tenant()")
        config.updated_at = datetime.now()
        await self.store.update(config)
        self._remember(config)
        return config

    async def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant and drop it from the cache; TenantNotFoundError if it does not exist."""
        self._cache.pop(tenant_id, None)
        if await self.store.get(tenant_id) is None:
            raise TenantNotFoundError(f"tenant {tenant_id!r} does not exist")
        await self.store.delete(tenant_id)

    async def list_tenants(self, limit: int = 100, offset: int = 0) -> list[TenantConfig]:
        """One page of tenants, straight from the store."""
        return await self.store.list(limit=limit, offset=offset)

    # -- limits and features ---------------------------------------------------------------------------
    def get_limits(self, config: TenantConfig) -> TenantLimits:
        """The effective limits of ``config`` (all 0 and no features if it is inactive)."""
        return _effective(config)

    async def check_limit(self, tenant_id: str, limit_type: str, current_value: Any) -> bool:
        """``current_value < max`` for a known limit type; unknown types are True (False when inactive)."""
        entry = await self._entry(tenant_id)
        if not entry.active:
            return False
        maximum = entry.maxima.get(limit_type)
        return True if maximum is None else within_limit(current_value, maximum)

    async def enforce_limit(self, tenant_id: str, limit_type: str, current_value: Any) -> None:
        """Raise TenantLimitExceededError when ``current_value`` has reached the limit."""
        entry = await self._entry(tenant_id)
        maximum = entry.maxima.get(limit_type, None if entry.active else 0)
        if maximum is not None and (not entry.active or not within_limit(current_value, maximum)):
            raise TenantLimitExceededError(tenant_id, limit_type, current_value, maximum)

    async def check_feature(self, tenant_id: str, feature: str) -> bool:
        """Whether the tenant's effective limits grant ``feature``."""
        return (await self._entry(tenant_id)).limits.has_feature(feature)

    async def require_feature(self, tenant_id: str, feature: str) -> None:
        """Raise TenantFeatureDisabledError unless the tenant has ``feature``."""
        if not (await self._entry(tenant_id)).limits.has_feature(feature):
            raise TenantFeatureDisabledError(tenant_id, feature)

    def context(self, tenant_id: str) -> TenantContext:
        """A TenantContext for ``tenant_id`` carrying a copy of its cached config, if cached."""
        entry = self._cache.get(tenant_id)
        return TenantContext(tenant_id, entry.config.copy() if entry is not None else None)
