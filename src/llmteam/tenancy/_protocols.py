"""The two store interfaces (contract Protocols) and the base classes llmteam's stores subclass.

:class:`TenantStoreBase` and :class:`KeyValueStoreBase` are what a new database implements; any object that
satisfies the Protocols still works, seen through :func:`as_kv_store` with the default batch methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from llmteam.tenancy._config import TenantConfig

_S = TypeVar("_S")


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
    """A flat string-keyed store; :class:`TenantIsolatedStore` namespaces it per tenant."""

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


class TenantStoreBase:
    """Base class of llmteam's tenant stores (a new database subclasses it in ``tenancy/stores/``).

    Implement the five :class:`TenantStore` methods; ``create`` is the one that carries the contract: it stores a
    copy of a new tenant and raises ``TenantAlreadyExistsError`` if the id is taken, atomically across processes.
    """

    async def get(self, tenant_id: str) -> TenantConfig | None:
        """The tenant's config, or None if it does not exist (or was deleted)."""
        raise NotImplementedError

    async def create(self, config: TenantConfig) -> None:
        """Store a new tenant; ``TenantAlreadyExistsError`` if the id is taken."""
        raise NotImplementedError

    async def update(self, config: TenantConfig) -> None:
        """Replace an existing tenant's config; ``TenantNotFoundError`` if there is none."""
        raise NotImplementedError

    async def delete(self, tenant_id: str) -> bool:
        """Remove the tenant; True if it existed."""
        raise NotImplementedError

    async def list(self, limit: int = 100, offset: int = 0) -> list[TenantConfig]:
        """One page of tenants, ordered by tenant id."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections; idempotent."""

    async def __aenter__(self: _S) -> _S:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class KeyValueStoreBase:
    """Base class of llmteam's key-value stores (a new database subclasses it in ``tenancy/stores/``).

    Implement the five :class:`KeyValueStore` methods; ``list(prefix)`` is the one isolation rests on: it must
    return exactly the keys that start with ``prefix``, taken literally (no wildcards). The batch methods
    default to one call per key; a store overrides them to use one round trip and one transaction.
    """

    async def get(self, key: str) -> Any | None:
        """The value, or None if the key is absent."""
        raise NotImplementedError

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""
        raise NotImplementedError

    async def delete(self, key: str) -> Any:
        """Remove ``key`` (absent keys are not an error)."""
        raise NotImplementedError

    async def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix`` (a literal prefix: no wildcards)."""
        raise NotImplementedError

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is present."""
        raise NotImplementedError

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """``{key: value}`` for the keys present."""
        found: dict[str, Any] = {}
        for key in keys:
            value = await self.get(key)
            if value is not None:
                found[key] = value
        return found

    async def set_many(self, items: Mapping[str, Any]) -> None:
        """Store several values (in one transaction where the store overrides this)."""
        for key, value in items.items():
            await self.set(key, value)

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys; returns how many existed."""
        deleted = 0
        for key in keys:
            if await self.exists(key):
                await self.delete(key)
                deleted += 1
        return deleted

    async def close(self) -> None:
        """Release connections; idempotent."""

    async def __aenter__(self: _S) -> _S:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _ContractKeyValueStore(KeyValueStoreBase):
    """Any object satisfying the :class:`KeyValueStore` contract, with the base class's batch defaults."""

    def __init__(self, store: KeyValueStore) -> None:
        self.inner = store

    async def get(self, key: str) -> Any | None:
        return await self.inner.get(key)

    async def set(self, key: str, value: Any) -> None:
        await self.inner.set(key, value)

    async def delete(self, key: str) -> Any:
        return await self.inner.delete(key)

    async def list(self, prefix: str = "") -> list[str]:
        return await self.inner.list(prefix)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)


def as_kv_store(store: KeyValueStoreBase | KeyValueStore) -> KeyValueStoreBase:
    """``store`` itself if it subclasses :class:`KeyValueStoreBase`, else a view with the default batch methods."""
    return store if isinstance(store, KeyValueStoreBase) else _ContractKeyValueStore(store)
