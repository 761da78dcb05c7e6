"""Per-tenant views of a KeyValueStore: TenantIsolatedStore (current tenant) and CrossTenantStore (admin)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from llmteam.tenancy._context import current_tenant
from llmteam.tenancy._errors import TenantContextError
from llmteam.tenancy._namespace import NamespaceCache, split_key
from llmteam.tenancy._protocols import KeyValueStore, KeyValueStoreBase, as_kv_store
from llmteam.tenancy.stores._memory import IMMUTABLE, MemoryKeyValueStore


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"key {key!r} is a {type(key).__name__}; keys are strings")
    return key


async def _list_owned(inner: KeyValueStoreBase, namespace: str, prefix: str) -> list[str]:
    """Keys under ``namespace + prefix`` with the namespace removed; re-checked so a sloppy store cannot leak."""
    full_prefix = namespace + prefix
    cut = len(namespace)
    return [k[cut:] for k in await inner.list(full_prefix) if k.startswith(full_prefix)]


class TenantIsolatedStore:
    """A KeyValueStore view in which the current tenant sees, and can touch, only its own keys."""

    def __init__(
        self, inner_store: KeyValueStoreBase | KeyValueStore, separator: str = ":", require_context: bool = True
    ) -> None:
        self.inner = inner_store
        self._kv = as_kv_store(inner_store)  # batch methods with defaults: no probing
        self._spaces = NamespaceCache(separator)
        self._known = self._spaces.known
        self.separator = separator
        self.require_context = require_context
        self._anonymous = separator
        # The in-memory store's dict is used directly (no second coroutine); every other store through its API.
        self._data = inner_store.data if type(inner_store) is MemoryKeyValueStore else None

    def _ns(self) -> str:
        tenant = current_tenant.get()
        if tenant:
            return self._spaces.get(tenant)
        if self.require_context:
            raise TenantContextError(
                "no tenant context is set; wrap the call in `with TenantContext(tenant_id):` "
                "(or build the store with require_context=False for an anonymous namespace)"
            )
        return self._anonymous

    async def get(self, key: str) -> Any | None:
        """The current tenant's value for ``key``, or None."""
        if type(key) is not str:
            _check_key(key)
        data = self._data
        full = (self._known.get(current_tenant.get()) or self._ns()) + key
        if data is None:
            return await self.inner.get(full)
        value = data.get(full)
        return value if type(value) in IMMUTABLE else copy.deepcopy(value)  # as MemoryKeyValueStore.get

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` under the current tenant's ``key``."""
        if type(key) is not str:
            _check_key(key)
        data = self._data
        full = (self._known.get(current_tenant.get()) or self._ns()) + key
        if data is None:
            await self.inner.set(full, value)
        else:
            data[full] = value if type(value) in IMMUTABLE else copy.deepcopy(value)  # as its set

    async def delete(self, key: str) -> None:
        """Delete the current tenant's ``key`` (absent keys are not an error)."""
        await self.inner.delete(self._ns() + _check_key(key))

    async def exists(self, key: str) -> bool:
        """Whether the current tenant has ``key``."""
        return bool(await self.inner.exists(self._ns() + _check_key(key)))

    async def list(self, prefix: str = "") -> list[str]:
        """The current tenant's keys starting with ``prefix``, without the namespace."""
        return await _list_owned(self._kv, self._ns(), _check_key(prefix))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """``{key: value}`` for the current tenant's keys that exist."""
        ns = self._ns()
        wanted = [_check_key(k) for k in keys]
        found = await self._kv.get_many([ns + k for k in wanted])
        cut = len(ns)
        return {full[cut:]: value for full, value in found.items()}

    async def set_many(self, items: Mapping[str, Any]) -> None:
        """Store several values at once (atomically when the inner store's ``set_many`` is)."""
        ns = self._ns()
        await self._kv.set_many({ns + _check_key(k): v for k, v in items.items()})

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Delete several of the current tenant's keys; returns how many existed."""
        ns = self._ns()
        return await self._kv.delete_many([ns + _check_key(k) for k in keys])

    async def clear_tenant(self) -> int:
        """Delete every key of the current tenant; returns how many were deleted."""
        ns = self._ns()
        keys = await _list_owned(self._kv, ns, "")
        return await self._kv.delete_many([ns + k for k in keys])


class CrossTenantStore:
    """Explicit admin access to any tenant's keys, with the same namespace rules as TenantIsolatedStore."""

    def __init__(self, inner_store: KeyValueStoreBase | KeyValueStore, separator: str = ":") -> None:
        self.inner = inner_store
        self._kv = as_kv_store(inner_store)
        self._spaces = NamespaceCache(separator)
        self.separator = separator

    def _full(self, tenant_id: str, key: str) -> str:
        return self._spaces.get(tenant_id) + _check_key(key)

    async def get_for_tenant(self, tenant_id: str, key: str) -> Any | None:
        """``tenant_id``'s value for ``key``, or None."""
        return await self.inner.get(self._full(tenant_id, key))

    async def set_for_tenant(self, tenant_id: str, key: str, value: Any) -> None:
        """Store ``value`` under ``tenant_id``'s ``key``."""
        await self.inner.set(self._full(tenant_id, key), value)

    async def delete_for_tenant(self, tenant_id: str, key: str) -> None:
        """Delete ``tenant_id``'s ``key``."""
        await self.inner.delete(self._full(tenant_id, key))

    async def list_for_tenant(self, tenant_id: str, prefix: str = "") -> list[str]:
        """``tenant_id``'s keys starting with ``prefix``, without the namespace."""
        return await _list_owned(self._kv, self._spaces.get(tenant_id), _check_key(prefix))

    async def list_all(self, prefix: str = "") -> list[tuple[str, str]]:
        """``(tenant_id, key)`` for every namespaced key whose key starts with ``prefix``.

        The anonymous namespace shows as tenant ``""``; keys outside any namespace are skipped.
        """
        _check_key(prefix)
        out: list[tuple[str, str]] = []
        for stored in await self.inner.list(""):
            parts = split_key(stored, self.separator)
            if parts is not None and parts[1].startswith(prefix):
                out.append(parts)
        return out

    async def copy_between_tenants(self, source_tenant: str, target_tenant: str, key: str) -> bool:
        """Copy ``key`` from one tenant to another; False if the source has no such key."""
        source = self._full(source_tenant, key)
        target = self._full(target_tenant, key)
        value = await self.inner.get(source)
        if value is None:
            return False
        await self.inner.set(target, value)
        return True
