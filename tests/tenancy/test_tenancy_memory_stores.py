from __future__ import annotations

from llmteam.tenancy import TenantConfig
from llmteam.tenancy.stores import MemoryKeyValueStore, MemoryTenantStore


async def test_memory_tenant_store_count_clear_and_copies() -> None:
    store = MemoryTenantStore()
    config = TenantConfig("a", "A")
    await store.create(config)
    assert store._tenants["a"] is not config
    assert await store.count() == 1
    store.clear()
    assert await store.count() == 0 and await store.get("a") is None
    await store.close()


async def test_memory_kv_keeps_immutable_values_as_given_and_clears() -> None:
    store = MemoryKeyValueStore()
    text = "a value" * 10
    await store.set("k", text)
    assert await store.get("k") is text  # immutable: no copy needed
    assert await store.delete("k") is True and await store.delete("k") is False
    await store.set_many({"a": 1, "b": 2})
    store.clear()
    assert await store.count() == 0
