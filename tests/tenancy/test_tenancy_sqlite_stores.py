from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmteam.tenancy import TenantConfig, TenantTier
from llmteam.tenancy.stores import SQLiteKeyValueStore, SQLiteTenantStore


async def test_wal_mode_and_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    kv = SQLiteKeyValueStore(path, table_name="kv_custom")
    tenants = SQLiteTenantStore(path)
    await kv.set("k", 1)
    await tenants.create(TenantConfig("a", "A"))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = dict(conn.execute("SELECT component, version FROM schema_version").fetchall())
        assert versions == {"tenancy.kv.kv_custom": 1, "tenancy.tenants.tenants": 1}
        assert conn.execute("SELECT value FROM kv_custom WHERE key = 'k'").fetchone()[0] == "1"
    finally:
        conn.close()
        await kv.close()
        await tenants.close()


async def test_acknowledged_write_is_visible_to_another_process(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = SQLiteKeyValueStore(path)
    await store.set_many({f"k{i}": {"i": i} for i in range(100)})
    await store.close()
    code = (
        "import asyncio, sys\n"
        "from llmteam.tenancy.stores import SQLiteKeyValueStore\n"
        "async def main():\n"
        "    s = SQLiteKeyValueStore(sys.argv[1])\n"
        "    print(len(await s.list('k')), (await s.get('k42'))['i'])\n"
        "    await s.set('child', True)\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["100", "42"]
    again = SQLiteKeyValueStore(path)
    assert await again.get("child") is True
    await again.close()


async def test_set_many_is_one_transaction(tmp_path: Path) -> None:
    store = SQLiteKeyValueStore(tmp_path / "t.db")
    await store.set("keep", 0)
    with pytest.raises(TypeError):
        await store.set_many({"a": 1, "b": object()})
    assert await store.list() == ["keep"]
    await store.set_many({f"x{i}": i for i in range(2000)})
    assert await store.count() == 2001
    assert len(await store.get_many([f"x{i}" for i in range(1200)])) == 1200
    assert await store.delete_many([f"x{i}" for i in range(2000)]) == 2000
    await store.close()


async def test_tenant_row_columns_and_memory_database(tmp_path: Path) -> None:
    store = SQLiteTenantStore(":memory:")
    await store.create(TenantConfig("a", "A", TenantTier.STARTER))
    assert (await store.get("a")).tier is TenantTier.STARTER  # type: ignore[union-attr]
    assert await store.count() == 1
    await store.close()
    await store.close()


async def test_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteKeyValueStore(tmp_path / "c.db")
    await store.set("k", 1)
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("k")


async def test_async_context_manager_closes(tmp_path: Path) -> None:
    async with SQLiteTenantStore(tmp_path / "cm.db") as store:
        await store.create(TenantConfig("a", "A"))
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("a")
