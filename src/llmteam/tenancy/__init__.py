"""Multi-tenancy: who the current tenant is, what it may do, and storage it cannot leave.

- **Models** -- ``TenantConfig`` (tier, limit overrides, feature and action lists), ``TenantTier``,
  ``TenantLimits`` and the read-only ``TIER_LIMITS`` table. ``config.get_effective_limits()`` merges them.
- **Context** -- ``with TenantContext("acme"):`` (or ``async with``) sets ``current_tenant`` (a ContextVar)
  for the block; tasks created inside inherit it, other tasks never see it. One instance may be entered
  re-entrantly and from several tasks. ``TenantContextStack`` is the push/pop form.
- **Manager** -- ``TenantManager(store, cache_enabled=True, cache_ttl=None)``: tenant CRUD (copies in and out),
  ``check_limit`` / ``enforce_limit`` / ``check_feature`` / ``require_feature`` from a cache; an inactive
  tenant has every limit 0 and no features.
- **Isolation** -- ``TenantIsolatedStore(kv_store)`` prefixes every key with the current tenant, so no tenant
  can read, list, overwrite or delete another's keys; ``CrossTenantStore`` is the explicit admin view.
- **Stores** -- ``llmteam.tenancy.stores``: memory, SQLite and PostgreSQL backends, opened by URL.

Example::

    from llmteam.tenancy import TenantConfig, TenantManager, TenantIsolatedStore, TenantTier
    from llmteam.tenancy.stores import open_kv_store, open_tenant_store

    manager = TenantManager(open_tenant_store("sqlite:///./.llmteam/llmteam.db"))
    await manager.create_tenant(TenantConfig("acme", "Acme Corp", tier=TenantTier.PROFESSIONAL))
    kv = TenantIsolatedStore(open_kv_store("sqlite:///./.llmteam/llmteam.db"))
    async with manager.context("acme"):
        await manager.enforce_limit("acme", "concurrent_pipelines", 3)
        await kv.set("last_run", {"status": "ok"})
"""

from llmteam.tenancy._config import TenantConfig
from llmteam.tenancy._context import (
    TenantContext,
    TenantContextStack,
    current_tenant,
    get_current_tenant,
    require_tenant_context,
)
from llmteam.tenancy._errors import (
    TenantAlreadyExistsError,
    TenantContextError,
    TenantError,
    TenantFeatureDisabledError,
    TenantLimitExceededError,
    TenantNotFoundError,
)
from llmteam.tenancy._isolation import CrossTenantStore, TenantIsolatedStore
from llmteam.tenancy._limits import TIER_LIMITS, TenantLimits, TenantTier, get_tier_limits
from llmteam.tenancy._manager import TenantManager
from llmteam.tenancy._protocols import KeyValueStore, KeyValueStoreBase, TenantStore, TenantStoreBase

__all__ = [
    "TIER_LIMITS",
    "CrossTenantStore",
    "KeyValueStore",
    "KeyValueStoreBase",
    "TenantAlreadyExistsError",
    "TenantConfig",
    "TenantContext",
    "TenantContextError",
    "TenantContextStack",
    "TenantError",
    "TenantFeatureDisabledError",
    "TenantIsolatedStore",
    "TenantLimitExceededError",
    "TenantLimits",
    "TenantManager",
    "TenantNotFoundError",
    "TenantStore",
    "TenantStoreBase",
    "TenantTier",
    "current_tenant",
    "get_current_tenant",
    "get_tier_limits",
    "require_tenant_context",
]
