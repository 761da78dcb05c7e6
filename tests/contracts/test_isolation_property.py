"""Property: through TenantIsolatedStore no tenant can read, list, overwrite or delete another tenant's data.

Tenant ids and keys are arbitrary Unicode (separators, wildcards, other tenants' ids embedded in keys), for
several separators, with the anonymous namespace as one more participant, on every backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.tenancy import TenantContext, TenantContextError, TenantIsolatedStore
from llmteam.tenancy.stores import MemoryKeyValueStore, PostgresKeyValueStore, SQLiteKeyValueStore

# SQL text cannot hold NUL or lone surrogates; durable stores refuse such keys outright.
ALPHABET = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.text(ALPHABET, max_size=8)
SEPARATORS = [":", "::", "/", "ab", "|#|"]
# tenant ids: any text the one tenant-id rule accepts (no control/format characters or line separators)
TENANT_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=8)
TENANT_IDS = st.text(st.sampled_from(list(":/|#ab%_ é\u00e9\U0001f600x")), min_size=1, max_size=6) | TENANT_TEXT
ANON = None  # the anonymous participant (no tenant context, require_context=False)


@pytest.fixture
def kv_factory(store_backend: str, backend_pg_pool: Any, tmp_path: Path) -> Callable[[], Any]:
    if store_backend == "memory":
        return MemoryKeyValueStore
    if store_backend == "sqlite":
        return lambda: SQLiteKeyValueStore(tmp_path / "iso.db", synchronous="NORMAL")
    return lambda: PostgresKeyValueStore(backend_pg_pool)


@pytest.fixture
async def kv(kv_factory: Callable[[], Any]) -> AsyncIterator[Any]:
    store = kv_factory()
    yield store
    await store.close()


class _As:
    """Run operations as one participant: a tenant id, or ANON."""

    def __init__(self, tenant: str | None) -> None:
        self.ctx = TenantContext(tenant) if tenant is not None else None

    def __enter__(self) -> None:
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(None, None, None)


async def _accepted(store: TenantIsolatedStore, who: str | None) -> bool:
    with _As(who):
        try:
            await store.list()
        except TenantContextError:
            return False
    return True


@pytest.mark.timeout(600)  # 60 examples against PostgreSQL beside CPU burners took over the 60 s default: a hang guard
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sep=st.sampled_from(SEPARATORS),
    tenants=st.lists(TENANT_IDS.filter(str.strip), min_size=2, max_size=4, unique=True),
    data=st.data(),
)
async def test_no_tenant_can_touch_anothers_data(
    kv: Any, sep: str, tenants: list[str], data: st.DataObject
) -> None:
    await kv.delete_many(await kv.list())
    store = TenantIsolatedStore(kv, separator=sep, require_context=False)
    crafted = st.one_of(
        TEXT,
        st.sampled_from(tenants).map(lambda t: t + sep),
        st.tuples(st.sampled_from(tenants), TEXT).map(lambda p: p[0] + sep + p[1]),
        st.just(sep) | st.just("") | st.just("%") | st.just("_"),
    )
    keys: list[str] = data.draw(st.lists(crafted, min_size=1, max_size=6, unique=True), label="keys")

    participants: list[str | None] = []
    for tenant in tenants:
        if sep in tenant:
            assert not await _accepted(store, tenant), f"id {tenant!r} contains separator {sep!r}"
        elif not set(tenant) & set(sep):
            assert await _accepted(store, tenant), f"id {tenant!r} shares nothing with {sep!r}"
        if await _accepted(store, tenant):
            participants.append(tenant)
        else:  # refused ids can do nothing at all, and write nothing
            with _As(tenant):
                for op in (store.get("k"), store.set("k", 1), store.set_many({"k": 1}), store.clear_tenant()):
                    with pytest.raises(TenantContextError):
                        await op
    participants.append(ANON)

    # everyone writes the same key names, with values naming the owner
    for who in participants:
        with _As(who):
            half = len(keys) // 2
            for k in keys[:half]:
                await store.set(k, [who, k])
            await store.set_many({k: [who, k] for k in keys[half:]})

    prefix = data.draw(st.sampled_from(keys) | TEXT, label="prefix")
    for who in participants:
        with _As(who):
            assert await store.list() == sorted(keys)
            assert await store.list(prefix) == sorted(k for k in keys if k.startswith(prefix))
            assert await store.get_many(keys) == {k: [who, k] for k in keys}
            for k in keys:
                assert await store.get(k) == [who, k]
                assert await store.exists(k)

    # one attacker deletes and clears everything it can reach: the others keep everything
    attacker = data.draw(st.sampled_from(participants), label="attacker")
    with _As(attacker):
        await store.delete(keys[0])
        await store.delete_many(keys)
        assert await store.clear_tenant() == 0
        assert await store.list() == []
    for who in participants:
        if who != attacker:
            with _As(who):
                assert await store.get_many(keys) == {k: [who, k] for k in keys}
    assert len(await kv.list()) == len(keys) * (len(participants) - 1)
