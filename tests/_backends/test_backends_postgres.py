"""PostgreSQL helpers against a real server: pool creation, unreachable servers, race-free versioned schema."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmteam.backends.postgres import _redact, create_pool, ensure_schema

pytestmark = pytest.mark.postgres

DDL = ["CREATE TABLE IF NOT EXISTS things (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)"]


async def test_schema_is_idempotent_under_concurrency(pg_pool: Any) -> None:
    await asyncio.gather(*(ensure_schema(pg_pool, "things", [DDL]) for _ in range(5)))
    rows = await pg_pool.fetch("SELECT component, version FROM schema_version")
    assert [(r["component"], r["version"]) for r in rows] == [("things", 1)]


async def test_migrations_apply_only_the_steps_not_yet_recorded(pg_pool: Any) -> None:
    step1 = ["CREATE TABLE steps (id BIGINT PRIMARY KEY)"]  # not idempotent: re-running it fails
    step2 = ["ALTER TABLE steps ADD COLUMN note TEXT NOT NULL DEFAULT ''"]
    await ensure_schema(pg_pool, "steps", [step1])
    await pg_pool.execute("INSERT INTO steps (id) VALUES (1)")
    await ensure_schema(pg_pool, "steps", [step1, step2])
    assert [tuple(r) for r in await pg_pool.fetch("SELECT id, note FROM steps")] == [(1, "")]
    assert await pg_pool.fetchval("SELECT version FROM schema_version WHERE component = 'steps'") == 2


async def test_newer_schema_is_refused(pg_pool: Any) -> None:
    await ensure_schema(pg_pool, "things", [DDL, []])
    with pytest.raises(RuntimeError, match="newer than this llmteam"):
        await ensure_schema(pg_pool, "things", [DDL])


async def test_create_pool_connects(postgres_url: str) -> None:
    pool = await create_pool(postgres_url, min_size=1, max_size=2)
    try:
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_unreachable_server_names_it_without_password() -> None:
    with pytest.raises(ConnectionError) as info:
        await create_pool("postgresql://u:secret@127.0.0.1:1/db", timeout=2)
    assert "127.0.0.1:1" in str(info.value)
    assert "secret" not in str(info.value)


def test_redact_keeps_dsn_without_password() -> None:
    assert _redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert _redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
