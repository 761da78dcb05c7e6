"""The two store interfaces: where tenant configs live, and the key-value store isolated per tenant."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from llmteam.tenancy._config import TenantConfig


@runtime_checkable
class TenantStore(Protocol):
    """Persistence for tenant configs; implementations keep and return copies, never the caller's objects."""

    async def get(self, tenant_id: str) -> TenantConfig | None:
        """The tenant's config, or None if it does not exist (or was deleted)."""
        ...

    async def create(self, config: TenantConfig) -> None:
        """Store a new tenant."""
        ...

    async def update(self, config: TenantConfig) -> None:
        """Replace an existing tenant's config."""
        ...

    async def delete(self, tenant_id: str) -> Any:
        """Remove the tenant."""
        ...

    async def list(self, limit: int = 100, offset: int = 0) -> list[TenantConfig]:
        """One page of tenants."""
        ...


@runtime_checkable
class KeyValueStore(Protocol):
    """A flat string-keyed store; :class:`TenantIsolatedStore` namespaces it per tenant.

    Stores may also offer ``get_many(keys) -> dict``, ``set_many(mapping)`` and ``delete_many(keys) -> int``;
    the isolated store uses them when present (one round trip, one transaction).
    """

    async def get(self, key: str) -> Any | None:
        """The value, or None if the key is absent."""
        ...

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""
        ...

    async def delete(self, key: str) -> Any:
        """Remove ``key`` (absent keys are not an error)."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix`` (a literal prefix: no wildcards)."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is present."""
        ...
