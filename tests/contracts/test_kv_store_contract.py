"""One KeyValueStore contract, run against every backend: memory, SQLite (tmp file) and PostgreSQL (pg_pool)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from llmteam.tenancy import KeyValueStore
from llmteam.tenancy.stores import (
    MemoryKeyValueStore,
    PostgresKeyValueStore,
    SQLiteKeyValueStore,
    open_kv_store,
)

DURABLE = ("sqlite", "postgres")


@pytest.fixture
def kv_factory(store_backend: str, backend_pg_pool: Any, tmp_path: Path) -> tuple[str, Callable[[], Any]]:
    if store_backend == "memory":
        return store_backend, MemoryKeyValueStore
    if store_backend == "sqlite":
        return store_backend, lambda: SQLiteKeyValueStore(tmp_path / "kv.db")
    return store_backend, lambda: PostgresKeyValueStore(backend_pg_pool)


@pytest.fixture
async def kv(kv_factory: tuple[str, Callable[[], Any]]) -> AsyncIterator[Any]:
    store = kv_factory[1]()
    yield store
    await store.close()


async def test_is_a_key_value_store(kv: Any) -> None:
    assert isinstance(kv, KeyValueStore)


async def test_get_set_delete_exists(kv: Any) -> None:
    assert await kv.get("a") is None
    assert not await kv.exists("a")
    await kv.set("a", {"n": 1, "items": [1, "two", None, True, 2.5]})
    assert await kv.get("a") == {"n": 1, "items": [1, "two", None, True, 2.5]}
    assert await kv.exists("a")
    await kv.set("a", "replaced")
    assert await kv.get("a") == "replaced"
    await kv.delete("a")
    assert await kv.get("a") is None and not await kv.exists("a")
    await kv.delete("a")  # absent: no error


async def test_list_prefix_is_literal_and_sorted(kv: Any) -> None:
    for key in ("a%b", "axb", "a_c", "abc", "a", "b", "a%", "é1", "é2", "\U0010ffffz"):
        await kv.set(key, 1)
    assert await kv.list("a%") == ["a%", "a%b"]
    assert await kv.list("a_") == ["a_c"]
    assert await kv.list("é") == ["é1", "é2"]
    assert await kv.list("\U0010ffff") == ["\U0010ffffz"]
    assert await kv.list("zz") == []
    assert await kv.list() == sorted(["a%b", "axb", "a_c", "abc", "a", "b", "a%", "é1", "é2", "\U0010ffffz"])


async def test_batches(kv: Any) -> None:
    await kv.set_many({"k1": 1, "k2": [2], "k3": {"three": 3}})
    assert await kv.get_many(["k1", "k3", "missing"]) == {"k1": 1, "k3": {"three": 3}}
    assert await kv.delete_many(["k1", "k2", "missing"]) == 2
    assert await kv.list("k") == ["k3"]
    assert await kv.get_many([]) == {}
    await kv.set_many({})
    assert await kv.delete_many([]) == 0


async def test_count(kv: Any) -> None:
    await kv.set_many({f"c{i}": i for i in range(25)})
    assert await kv.count() == 25


async def test_non_json_value_is_refused_and_nothing_written(kv_factory: tuple[str, Any], kv: Any) -> None:
    if kv_factory[0] not in DURABLE:
        pytest.skip("the memory store keeps Python objects as given")
    with pytest.raises(TypeError, match=r"'bad'.*set"):
        await kv.set("bad", {1, 2})
    assert not await kv.exists("bad")
    with pytest.raises(TypeError, match="'k2'"):
        await kv.set_many({"k1": 1, "k2": object(), "k3": 3})
    assert await kv.list() == []
    with pytest.raises(TypeError, match="key .n. is a float"):
        await kv.set("n", float("nan"))


async def test_bad_keys_are_refused(kv_factory: tuple[str, Any], kv: Any) -> None:
    with pytest.raises(TypeError, match="42"):
        await kv.set(42, "x")
    if kv_factory[0] in DURABLE:
        with pytest.raises(ValueError, match="NUL"):
            await kv.set("a\x00b", 1)
        with pytest.raises(ValueError, match="surrogate"):
            await kv.set("a\ud800", 1)
        assert await kv.list() == []


async def test_durable_values_round_trip_as_json(kv_factory: tuple[str, Any], kv: Any) -> None:
    if kv_factory[0] not in DURABLE:
        pytest.skip("JSON semantics apply to durable stores")
    await kv.set("t", (1, 2))
    assert await kv.get("t") == [1, 2]
    await kv.set("s", "nul \x00 and \U0001f600 and \ud800")
    assert await kv.get("s") == "nul \x00 and \U0001f600 and \ud800"


async def test_durable_store_survives_reopen(kv_factory: tuple[str, Callable[[], Any]], kv: Any) -> None:
    if kv_factory[0] not in DURABLE:
        pytest.skip("memory does not persist")
    await kv.set_many({"p1": 1, "p2": 2})
    await kv.close()
    again = kv_factory[1]()
    try:
        assert await again.get_many(["p1", "p2"]) == {"p1": 1, "p2": 2}
    finally:
        await again.close()


async def test_bad_table_name_is_refused(kv_factory: tuple[str, Any], tmp_path: Path) -> None:
    if kv_factory[0] == "memory":
        pytest.skip("no tables")
    with pytest.raises(ValueError, match="x; DROP"):
        if kv_factory[0] == "sqlite":
            SQLiteKeyValueStore(tmp_path / "x.db", table_name="x; DROP TABLE t")
        else:
            PostgresKeyValueStore(object(), table_name="x; DROP TABLE t")


async def test_open_by_url(tmp_path: Path) -> None:
    assert isinstance(open_kv_store("memory://"), MemoryKeyValueStore)
    store = open_kv_store(f"sqlite:///{tmp_path}/u.db")
    assert isinstance(store, SQLiteKeyValueStore)
    await store.set("k", 1)
    assert (tmp_path / "u.db").exists()
    await store.close()
    with pytest.raises(ValueError, match="redis"):
        open_kv_store("redis://localhost/0")


@pytest.mark.postgres
async def test_open_postgres_by_url_creates_and_closes_its_pool(pg_schema_url: str) -> None:
    store = open_kv_store(pg_schema_url)
    assert isinstance(store, PostgresKeyValueStore) and not store.backend.connected
    await store.set("k", {"v": 1})
    assert await store.get("k") == {"v": 1}
    await store.close()
    assert not store.backend.connected
    await store.close()
