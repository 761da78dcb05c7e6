from __future__ import annotations

from llmteam.tenancy import KeyValueStore, TenantIsolatedStore, TenantStore
from llmteam.tenancy.stores import MemoryKeyValueStore, MemoryTenantStore


def test_runtime_checkable_protocols() -> None:
    assert isinstance(MemoryTenantStore(), TenantStore)
    assert isinstance(MemoryKeyValueStore(), KeyValueStore)
    assert isinstance(TenantIsolatedStore(MemoryKeyValueStore()), KeyValueStore)
    assert not isinstance(object(), TenantStore)
    assert not isinstance(MemoryTenantStore(), KeyValueStore)
