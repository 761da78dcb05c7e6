"""In-memory stores: the defaults for tests and single-process use (nothing survives the process)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from llmteam._owned import own
from llmteam.tenancy._config import TenantConfig
from llmteam.tenancy._errors import TenantAlreadyExistsError, TenantNotFoundError
from llmteam.tenancy._protocols import KeyValueStoreBase, TenantStoreBase
from llmteam.tenancy.stores._codec import check_page


class MemoryTenantStore(TenantStoreBase):
    """Tenant configs in a dict; keeps and returns deep copies, never the caller's objects."""

    def __init__(self) -> None:
        self._tenants: dict[str, TenantConfig] = {}

    async def get(self, tenant_id: str) -> TenantConfig | None:
        """A copy of the tenant's config, or None."""
        config = self._tenants.get(tenant_id)
        return None if config is None else copy.deepcopy(config)

    async def create(self, config: TenantConfig) -> None:
        """Store a copy of a new tenant; TenantAlreadyExistsError if the id is taken."""
        config.validate()
        if config.tenant_id in self._tenants:
            raise TenantAlreadyExistsError(f"tenant {config.tenant_id!r} already exists")
        self._tenants[config.tenant_id] = copy.deepcopy(config)

    async def update(self, config: TenantConfig) -> None:
        """Replace a tenant's stored copy; TenantNotFoundError if it does not exist."""
        config.validate()
        if config.tenant_id not in self._tenants:
            raise TenantNotFoundError(f"tenant {config.tenant_id!r} does not exist")
        self._tenants[config.tenant_id] = copy.deepcopy(config)

    async def delete(self, tenant_id: str) -> bool:
        """Remove the tenant; True if it existed."""
        return self._tenants.pop(tenant_id, None) is not None

    async def list(self, limit: int = 100, offset: int = 0) -> list[TenantConfig]:
        """Copies of one page of tenants, ordered by tenant id."""
        check_page(limit, offset)
        ids = sorted(self._tenants)[offset : offset + limit]
        return [copy.deepcopy(self._tenants[i]) for i in ids]

    async def count(self) -> int:
        """How many tenants are stored."""
        return len(self._tenants)

    def clear(self) -> None:
        """Remove every tenant."""
        self._tenants.clear()

    async def close(self) -> None:
        """Nothing to release; present so every store closes the same way."""


class MemoryKeyValueStore(KeyValueStoreBase):
    """A dict behind the KeyValueStore interface; mutable values are copied in and out (never aliased)."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    @property
    def data(self) -> dict[str, Any]:
        """The dict itself, for ``TenantIsolatedStore``'s hot path; whoever writes to it must store ``own(value)``."""
        return self._data

    async def get(self, key: str) -> Any | None:
        """A copy of the value (immutable values as they are), or None."""
        return own(self._data.get(key))

    async def set(self, key: str, value: Any) -> None:
        """Store a copy of ``value`` (immutable values as they are) under ``key``."""
        if type(key) is not str and not isinstance(key, str):
            raise TypeError(f"key {key!r} is a {type(key).__name__}; keys are strings")
        self._data[key] = own(value)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        return self._data.pop(key, _MISSING) is not _MISSING

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return key in self._data

    async def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix``."""
        return sorted(k for k in self._data if k.startswith(prefix))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """``{key: value}`` for the keys present."""
        data = self._data
        return {k: own(data[k]) for k in keys if k in data}

    async def set_many(self, items: Mapping[str, Any]) -> None:
        """Store several values (all or nothing: keys are checked first)."""
        for key in items:
            if not isinstance(key, str):
                raise TypeError(f"key {key!r} is a {type(key).__name__}; keys are strings")
        self._data.update({k: own(v) for k, v in items.items()})

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys; returns how many existed."""
        data = self._data
        return sum(1 for k in set(keys) if data.pop(k, _MISSING) is not _MISSING)

    async def count(self) -> int:
        """How many keys are stored."""
        return len(self._data)

    def clear(self) -> None:
        """Remove every key."""
        self._data.clear()

    async def close(self) -> None:
        """Nothing to release; present so every store closes the same way."""


_MISSING: Any = object()
