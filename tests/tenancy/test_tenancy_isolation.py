from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tenancy import CrossTenantStore, TenantContext, TenantContextError, TenantIsolatedStore
from llmteam.tenancy.stores import MemoryKeyValueStore


class MinimalStore:
    """Only the five protocol methods, and a sloppy list() that ignores the prefix."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str) -> Any:
        return self.data.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def list(self, prefix: str = "") -> list[str]:
        return list(self.data)

    async def exists(self, key: str) -> bool:
        return key in self.data


async def test_attributes_and_namespacing() -> None:
    inner = MemoryKeyValueStore()
    store = TenantIsolatedStore(inner)
    assert (store.inner, store.separator, store.require_context) == (inner, ":", True)
    with TenantContext("acme"):
        await store.set("k", 1)
        assert await store.get("k") == 1 and await store.exists("k")
    assert await inner.list() == ["acme:k"]


async def test_every_operation_needs_a_context() -> None:
    store = TenantIsolatedStore(MemoryKeyValueStore())
    ops = [
        store.get("k"), store.set("k", 1), store.delete("k"), store.exists("k"), store.list(),
        store.get_many(["k"]), store.set_many({"k": 1}), store.delete_many(["k"]), store.clear_tenant(),
    ]
    for op in ops:
        with pytest.raises(TenantContextError, match="TenantContext"):
            await op


async def test_separator_in_tenant_id_is_refused_and_nothing_written() -> None:
    inner = MemoryKeyValueStore()
    store = TenantIsolatedStore(inner)
    with TenantContext("evil:acme"):
        with pytest.raises(TenantContextError, match="evil:acme"):
            await store.set("k", 1)
        with pytest.raises(TenantContextError):
            await store.list()
    assert await inner.list() == []


async def test_anonymous_namespace_never_equals_a_tenant() -> None:
    inner = MemoryKeyValueStore()
    store = TenantIsolatedStore(inner, require_context=False)
    await store.set("k", "anon")
    with TenantContext("acme"):
        await store.set("k", "acme")
        assert await store.list() == ["k"]
    assert await store.get("k") == "anon"
    assert await store.list() == ["k"]
    assert await store.clear_tenant() == 1
    with TenantContext("acme"):
        assert await store.get("k") == "acme"


async def test_batches_and_list_without_namespace() -> None:
    store = TenantIsolatedStore(MemoryKeyValueStore(), separator="::")
    with TenantContext("a"):
        await store.set_many({"x1": 1, "x2": 2, "y": 3})
        assert await store.list("x") == ["x1", "x2"]
        assert await store.get_many(["x1", "y", "nope"]) == {"x1": 1, "y": 3}
        assert await store.delete_many(["x1", "nope"]) == 1
        assert await store.clear_tenant() == 2
        assert await store.list() == []


async def test_fallbacks_without_batch_methods_and_sloppy_list_cannot_leak() -> None:
    inner = MinimalStore()
    store = TenantIsolatedStore(inner)
    with TenantContext("b"):
        await store.set_many({"secret": 1})
    with TenantContext("a"):
        await store.set_many({"k1": 1, "k2": 2})
        assert await store.get_many(["k1", "k2", "secret"]) == {"k1": 1, "k2": 2}
        assert await store.list() == ["k1", "k2"]
        assert await store.delete_many(["k1", "secret"]) == 1
        assert await store.clear_tenant() == 1
    with TenantContext("b"):
        assert await store.get("secret") == 1


async def test_non_string_keys_are_refused() -> None:
    store = TenantIsolatedStore(MemoryKeyValueStore())
    with TenantContext("a"):
        for op in (store.get(1), store.set(None, 1), store.delete(b"k"), store.get_many([1])):  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="keys are strings"):
                await op


def test_bad_separator() -> None:
    with pytest.raises(ValueError, match="separator"):
        TenantIsolatedStore(MemoryKeyValueStore(), separator="")
    with pytest.raises(ValueError, match="separator"):
        CrossTenantStore(MemoryKeyValueStore(), separator="")


async def test_cross_tenant_admin_api() -> None:
    inner = MemoryKeyValueStore()
    admin = CrossTenantStore(inner)
    await admin.set_for_tenant("a", "k", 1)
    await admin.set_for_tenant("b", "k", 2)
    await admin.set_for_tenant("b", "other", 3)
    await inner.set("unnamespaced", 0)
    await TenantIsolatedStore(inner, require_context=False).set("anon", 9)
    assert await admin.get_for_tenant("a", "k") == 1
    assert await admin.list_for_tenant("b") == ["k", "other"]
    assert await admin.list_for_tenant("b", "o") == ["other"]
    assert sorted(await admin.list_all()) == [("", "anon"), ("a", "k"), ("b", "k"), ("b", "other")]
    assert await admin.list_all("o") == [("b", "other")]
    assert await admin.copy_between_tenants("b", "c", "other") is True
    assert await admin.copy_between_tenants("b", "c", "missing") is False
    assert await admin.get_for_tenant("c", "other") == 3
    await admin.delete_for_tenant("b", "other")
    assert await admin.get_for_tenant("b", "other") is None
    with TenantContext("c"):
        assert await TenantIsolatedStore(inner).get("other") == 3
    for op in (admin.get_for_tenant("x:y", "k"), admin.set_for_tenant("", "k", 1), admin.list_for_tenant("a:")):
        with pytest.raises(TenantContextError):
            await op


class SubclassedMemoryStore(MemoryKeyValueStore):
    """Not exactly the memory store: TenantIsolatedStore reaches it through its async API, not its dict."""


_VALUES = st.recursive(
    st.none() | st.integers() | st.text(max_size=3) | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("inner_type", [MemoryKeyValueStore, SubclassedMemoryStore])
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["acme", "globex"]), st.sampled_from(["k", "j"]), _VALUES), max_size=12))
async def test_no_caller_ever_aliases_a_stored_value(
    inner_type: type[MemoryKeyValueStore], writes: list[tuple[str, str, Any]]
) -> None:
    """The attacker keeps the objects it stored or read, and copied across tenants, then mutates them in place."""
    inner = inner_type()
    store, admin = TenantIsolatedStore(inner), CrossTenantStore(inner)
    expected: dict[tuple[str, str], Any] = {}
    held: list[Any] = []
    for tenant, key, value in writes:
        with TenantContext(tenant):
            await store.set(key, value)
            held += [value, await store.get(key)]
        expected[(tenant, key)] = copy.deepcopy(value)
    for key in ("k", "j"):
        if await admin.copy_between_tenants("acme", "globex", key):
            expected[("globex", key)] = copy.deepcopy(expected[("acme", key)])
            held.append(await admin.get_for_tenant("globex", key))
    for obj in held:
        if isinstance(obj, list):
            obj.append("evil")
        elif isinstance(obj, dict):
            obj["evil"] = True
    for (tenant, key), value in expected.items():
        with TenantContext(tenant):
            assert await store.get(key) == value


async def test_copy_between_tenants_does_not_share_an_object() -> None:
    inner = MemoryKeyValueStore()
    store, admin = TenantIsolatedStore(inner), CrossTenantStore(inner)
    with TenantContext("acme"):
        await store.set("plan", {"limit": 10})
    assert await admin.copy_between_tenants("acme", "globex", "plan")
    with TenantContext("acme"):
        mine = await store.get("plan")
        mine["limit"] = 10_000
        await store.set("plan", mine)
    with TenantContext("globex"):
        assert await store.get("plan") == {"limit": 10}
