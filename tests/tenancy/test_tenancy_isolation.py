from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tenancy import CrossTenantStore, TenantContext, TenantContextError, TenantIsolatedStore, current_tenant
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


class Box:
    """A mutable object of the caller's own class (compared by content)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


class Text(str):
    """A str subclass carrying a mutable attribute: not immutable, so it must be copied too."""


def _text_with_attr(text: str) -> Text:
    tagged = Text(text)
    tagged.tags = []  # type: ignore[attr-defined]
    return tagged


_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3)
    | st.binary(max_size=3) | st.complex_numbers(allow_nan=False, max_magnitude=1e6)
)
_VALUES = st.recursive(
    _SCALARS | st.builds(bytearray, st.binary(max_size=3)) | st.text(max_size=3).map(_text_with_attr),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=2), inner, max_size=3)
        | st.tuples(inner, inner)
        | st.builds(Box, inner)
        | st.sets(st.integers() | st.text(max_size=2), max_size=3)
        | st.frozensets(st.integers() | st.text(max_size=2), max_size=3)
    ),
    max_leaves=8,
)


def _mutate_everywhere(obj: Any, seen: set[int] | None = None) -> None:
    """What an attacker holding ``obj`` can do: change every mutable object reachable from it, in place."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, list):
        for item in obj:
            _mutate_everywhere(item, seen)
        obj.append("evil")
    elif isinstance(obj, dict):
        for item in obj.values():
            _mutate_everywhere(item, seen)
        obj["evil"] = True
    elif isinstance(obj, tuple):
        for item in obj:
            _mutate_everywhere(item, seen)
    elif isinstance(obj, set):
        obj.add("evil")
    elif isinstance(obj, bytearray):
        obj.extend(b"evil")
    elif isinstance(obj, Box):
        _mutate_everywhere(obj.value, seen)
        obj.value = "evil"
    elif isinstance(obj, Text):
        obj.tags.append("evil")  # type: ignore[attr-defined]


def _same(a: Any, b: Any) -> bool:
    """Equal, and for Text also the same tags (str equality alone ignores them)."""
    if isinstance(a, Text) or isinstance(b, Text):
        return a == b and getattr(a, "tags", None) == getattr(b, "tags", None)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, Box) and isinstance(b, Box):
        return _same(a.value, b.value)
    return bool(a == b) or (a != a and b != b)


@pytest.mark.parametrize("inner_type", [MemoryKeyValueStore, SubclassedMemoryStore])
@settings(max_examples=200, deadline=None)
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
            held += [value, await store.get(key), *(await store.get_many([key])).values()]
            await store.set_many({key + "+": value})
            held.append(await store.get(key + "+"))
        expected[(tenant, key)] = copy.deepcopy(value)
        expected[(tenant, key + "+")] = copy.deepcopy(value)
    for key in ("k", "j"):
        if await admin.copy_between_tenants("acme", "globex", key):
            expected[("globex", key)] = copy.deepcopy(expected[("acme", key)])
            held.append(await admin.get_for_tenant("globex", key))
    for obj in held:
        _mutate_everywhere(obj)
    for (tenant, key), value in expected.items():
        with TenantContext(tenant):
            assert _same(await store.get(key), value)
            assert _same((await store.get_many([key]))[key], value)


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


# --- keys and tenant ids that are str subclasses cannot reach another tenant's namespace --------------------------


class ReflectedKey(str):
    """A key whose reflected ``+`` answers with another tenant's stored key: ``ns + key`` would call it first."""

    def __radd__(self, other: object) -> str:
        return "victim:secret"


class LookalikeTenant(str):
    """A tenant id equal to (and hashing like) every other id: a dict keyed by tenant id would confuse them."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("victim")

    def __add__(self, other: object) -> str:
        return "victim" + str.__str__(other)  # type: ignore[arg-type]


@pytest.mark.parametrize("inner_type", [MemoryKeyValueStore, MinimalStore])
async def test_a_str_subclass_key_cannot_reach_another_tenant(inner_type: type[Any]) -> None:
    inner = inner_type()
    store = TenantIsolatedStore(inner)
    with TenantContext("victim"):
        await store.set("secret", "the victim's value")
    with TenantContext("attacker"):
        await store.get("warm")  # the attacker's namespace is cached, as on a hot path
        key = ReflectedKey("x")
        assert await store.get(key) is None
        assert not await store.exists(key)
        await store.set(key, "overwritten")
        await store.delete(key)
        assert await store.get_many([key]) == {}
        assert await store.list(ReflectedKey("")) == []
    with TenantContext("victim"):
        assert await store.get("secret") == "the victim's value"
    admin = CrossTenantStore(inner)
    await admin.set_for_tenant("attacker", key, "admin write")
    assert await admin.get_for_tenant("victim", "secret") == "the victim's value"


async def test_a_str_subclass_tenant_id_gets_its_own_namespace() -> None:
    inner = MemoryKeyValueStore()
    store = TenantIsolatedStore(inner)
    with TenantContext("victim"):
        await store.set("secret", "the victim's value")
    token = current_tenant.set(LookalikeTenant("attacker"))
    try:
        assert await store.get("secret") is None
        await store.set("secret", "overwritten")
    finally:
        current_tenant.reset(token)
    with TenantContext("victim"):
        assert await store.get("secret") == "the victim's value"
    assert await inner.get("attacker:secret") == "overwritten"


async def test_kept_stored_keys_are_bounded_and_per_tenant() -> None:
    from llmteam.tenancy._isolation import _MAX_KEYS_KEPT

    inner = MemoryKeyValueStore()
    store = TenantIsolatedStore(inner)
    with TenantContext("acme"):
        for i in range(_MAX_KEYS_KEPT + 50):
            await store.set(f"k{i}", i)
        assert len(store._last[2]) == 50  # bounded: a full set of kept keys starts again from the newest
        assert await store.get(f"k{_MAX_KEYS_KEPT + 10}") == _MAX_KEYS_KEPT + 10
    with TenantContext("globex"):
        assert await store.get("k1") is None  # another tenant: the kept keys were acme's and are dropped
        assert store._last[0] == "globex" and set(store._last[2]) == {"k1"}
    assert len(await inner.list("acme:")) == _MAX_KEYS_KEPT + 50


# -- review, 2026-11-29: the wrong shape of argument gets a clear error, never another operation ------------------
async def test_a_plain_string_of_keys_is_refused_not_read_as_its_characters() -> None:
    store = TenantIsolatedStore(MemoryKeyValueStore())
    async with TenantContext("acme"):
        await store.set_many({"a": 1, "b": 2, "c": 3})
        with pytest.raises(TypeError, match="expected a list of keys, not the string 'abc'"):
            await store.get_many("abc")
        with pytest.raises(TypeError, match="expected a list of keys, not the string 'abc'"):
            await store.delete_many("abc")
        assert await store.get_many(["a", "b", "c"]) == {"a": 1, "b": 2, "c": 3}  # nothing was deleted


@pytest.mark.parametrize("items", [[("k", 1)], "k", None])
async def test_set_many_without_a_mapping_is_refused_by_name(items: Any) -> None:
    store = TenantIsolatedStore(MemoryKeyValueStore())
    async with TenantContext("acme"):
        with pytest.raises(TypeError, match=f"set_many needs a mapping of key -> value, not {type(items).__name__}"):
            await store.set_many(items)
