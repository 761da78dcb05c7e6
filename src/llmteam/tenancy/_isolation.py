"""Per-tenant views of a KeyValueStore: TenantIsolatedStore (current tenant) and CrossTenantStore (admin)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from llmteam._owned import IMMUTABLE
from llmteam.tenancy._context import current_tenant
from llmteam.tenancy._errors import TenantContextError
from llmteam.tenancy._namespace import NamespaceCache, exact_str, split_key
from llmteam.tenancy._protocols import KeyValueStore, KeyValueStoreBase, as_kv_store
from llmteam.tenancy.stores._codec import check_mapping, check_not_text
from llmteam.tenancy.stores._memory import MemoryKeyValueStore

_MAX_KEYS_KEPT = 4096  # stored-key strings kept for the last tenant seen (all dropped when full or it changes)


def _check_key(key: object) -> str:
    """``key`` as a plain ``str``: a subclass is copied, so its own ``__radd__`` can never build a stored key."""
    if not isinstance(key, str):
        raise TypeError(f"key {key!r} is a {type(key).__name__}; keys are strings")
    return exact_str(key)


async def _list_owned(inner: KeyValueStoreBase, namespace: str, prefix: str) -> list[str]:
    """Keys under ``namespace + prefix`` with the namespace removed; re-checked so a sloppy store cannot leak."""
    full_prefix = namespace + prefix
    cut = len(namespace)
    return [k[cut:] for k in await inner.list(full_prefix) if k.startswith(full_prefix)]


class TenantIsolatedStore:
    """A KeyValueStore view in which the current tenant sees, and can touch, only its own keys.

    On the in-memory store, ``get``/``set`` use its dict directly and copy only mutable values (immutable ones
    cannot be aliased), exactly as :class:`MemoryKeyValueStore` does; every other store is used through its API.
    """

    def __init__(
        self, inner_store: KeyValueStoreBase | KeyValueStore, separator: str = ":", require_context: bool = True
    ) -> None:
        self.inner = inner_store
        self._kv = as_kv_store(inner_store)  # batch methods with defaults: no probing
        self._spaces = NamespaceCache(separator)
        self.separator = separator
        self.require_context = require_context
        self._anonymous = separator
        # (tenant id object, its namespace, its stored keys by key) of the last tenant seen: the hot path is one
        # identity check and one lookup of a stored key string whose hash is already known. One tuple, replaced
        # whole, so no reader ever pairs one tenant's id with another's namespace or keys.
        self._last: tuple[str | None, str, dict[str, str]] = (None, "", {})
        self._data = inner_store.data if type(inner_store) is MemoryKeyValueStore else None

    def _ns(self) -> str:
        tenant = current_tenant.get()
        if tenant:
            namespace = self._spaces.get(tenant)
            if type(tenant) is str and self._last[0] is not tenant:  # a subclass could equal another id: not kept
                self._last = (tenant, namespace, {})
            return namespace
        if self.require_context:
            raise TenantContextError(
                "no tenant context is set; wrap the call in `with TenantContext(tenant_id):` "
                "(or build the store with require_context=False for an anonymous namespace)"
            )
        return self._anonymous

    @staticmethod
    def _keep(last: tuple[str | None, str, dict[str, str]], key: str) -> str:
        """The stored key of ``key`` (a plain str) in the namespace of ``last``, kept with the recent ones."""
        full = last[1] + key
        kept = last[2]
        if len(kept) >= _MAX_KEYS_KEPT:
            kept.clear()  # bounded: start again from the keys in use now
        kept[key] = full
        return full

    def _full(self, key: object) -> str:
        """The stored key of the current tenant's ``key``: the checked path (get/set look in ``_last`` first)."""
        checked = _check_key(key)  # a plain str, so a kept key can only ever match itself
        namespace = self._ns()
        last = self._last
        if last[0] is current_tenant.get():
            return self._keep(last, checked)
        return namespace + checked

    async def get(self, key: str) -> Any | None:
        """The current tenant's value for ``key``, or None."""
        last = self._last
        if type(key) is str and last[0] is current_tenant.get():
            full = last[2].get(key) or last[1] + key  # set() keeps the keys it wrote
        else:
            full = self._full(key)
        data = self._data
        if data is None:
            return await self.inner.get(full)
        value = data.get(full)
        return value if type(value) in IMMUTABLE else copy.deepcopy(value)  # as own(): MemoryKeyValueStore.get

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` under the current tenant's ``key``."""
        last = self._last
        if type(key) is str and last[0] is current_tenant.get():
            kept = last[2]
            full = kept.get(key)
            if full is None:  # a new key: keep its stored key for the get()s that follow (bounded)
                if len(kept) >= _MAX_KEYS_KEPT:
                    kept.clear()
                full = kept[key] = last[1] + key
        else:
            full = self._full(key)
        data = self._data
        if data is None:
            await self.inner.set(full, value)
        else:
            data[full] = value if type(value) in IMMUTABLE else copy.deepcopy(value)  # as own(): its set

    async def delete(self, key: str) -> None:
        """Delete the current tenant's ``key`` (absent keys are not an error)."""
        await self.inner.delete(self._full(key))

    async def exists(self, key: str) -> bool:
        """Whether the current tenant has ``key``."""
        return bool(await self.inner.exists(self._full(key)))

    async def list(self, prefix: str = "") -> list[str]:
        """The current tenant's keys starting with ``prefix``, without the namespace."""
        return await _list_owned(self._kv, self._ns(), _check_key(prefix))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """``{key: value}`` for the current tenant's keys that exist."""
        check_not_text(keys)
        ns = self._ns()
        wanted = [_check_key(k) for k in keys]
        found = await self._kv.get_many([ns + k for k in wanted])
        cut = len(ns)
        return {full[cut:]: value for full, value in found.items()}

    async def set_many(self, items: Mapping[str, Any]) -> None:
        """Store several values at once (atomically when the inner store's ``set_many`` is)."""
        check_mapping(items)
        ns = self._ns()
        await self._kv.set_many({ns + _check_key(k): v for k, v in items.items()})

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Delete several of the current tenant's keys; returns how many existed."""
        check_not_text(keys)
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
