"""PostgreSQL helpers against a real server: pool creation, unreachable servers, race-free versioned schema, and
the backend's held connection for single statements (serialised, replaced when lost, handed back on close)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from llmteam import StoreConnectionError
from llmteam.backends import PostgresBackend, open_backend
from llmteam.backends.postgres import HeldConnection, ServerPool, _redact, create_pool, ensure_schema

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


# -- the held connection: PostgresBackend.execute ------------------------------------------------------------------
RECORD_PID = "INSERT INTO pids (pid) SELECT pg_backend_pid()"
HANG_GUARD = 60  # seconds; only so that a hang fails the test instead of stalling the run


@pytest.fixture
async def backend(pg_schema_url: str) -> AsyncIterator[PostgresBackend]:
    """A private backend on this test's schema (its own pool), with a ``pids`` table recording who ran what."""
    b = open_backend(pg_schema_url, shared=False)
    assert isinstance(b, PostgresBackend)
    await b.execute("CREATE TABLE pids (n BIGSERIAL PRIMARY KEY, pid INT NOT NULL)")
    yield b
    await asyncio.wait_for(b.release(), HANG_GUARD)


async def pids(pg_pool: Any) -> list[int]:
    return [r["pid"] for r in await pg_pool.fetch("SELECT pid FROM pids ORDER BY n")]


async def test_lone_statements_share_one_held_connection_and_are_committed(
    backend: PostgresBackend, pg_pool: Any
) -> None:
    pool = await backend.pool()
    for _ in range(5):
        await backend.execute(RECORD_PID)
        assert len(await pids(pg_pool)) > 0  # committed: another connection sees it at once
    assert len(set(await pids(pg_pool))) == 1
    inner = pool.pool  # type: ignore[attr-defined]
    assert inner.get_size() - inner.get_idle_size() == 1  # held between statements, not leased per statement


async def test_concurrent_statements_never_share_the_held_connection(backend: PostgresBackend, pg_pool: Any) -> None:
    # asyncpg refuses a second operation on a busy connection: the callers who find it busy use the pool
    await asyncio.gather(*(backend.execute(f"{RECORD_PID} FROM pg_sleep(0.05)") for _ in range(6)))
    recorded = await pids(pg_pool)
    assert len(recorded) == 6 and len(set(recorded)) > 1


async def test_a_sql_error_is_raised_as_is_and_the_next_statement_runs(backend: PostgresBackend, pg_pool: Any) -> None:
    await backend.execute(RECORD_PID)
    with pytest.raises(asyncpg.UniqueViolationError):  # the audit store maps it to "sequence already used"
        await backend.execute("INSERT INTO pids (n, pid) SELECT 1, 0")
    await backend.execute(RECORD_PID)
    assert len(await pids(pg_pool)) == 2


async def test_an_argument_the_driver_refuses_is_raised_as_is_not_as_a_lost_server(
    backend: PostgresBackend, pg_pool: Any
) -> None:
    """An argument asyncpg cannot encode is the caller's error, named as asyncpg names it (a DataError), never
    "PostgreSQL ... is unreachable", and it leaves the held connection in place."""
    await backend.execute(RECORD_PID)
    pool = await backend.pool()
    for call in (lambda: backend.execute("INSERT INTO pids (pid) VALUES ($1)", "not a number"),
                 lambda: pool.execute("INSERT INTO pids (pid) VALUES ($1)", "not a number"),
                 lambda: pool.fetch("SELECT $1::int", "not a number")):
        with pytest.raises(asyncpg.DataError, match="invalid input for query argument .* 'not a number'") as err:
            await call()
        assert not isinstance(err.value, StoreConnectionError)
    await backend.execute(RECORD_PID)
    assert len(set(await pids(pg_pool))) == 1  # the held connection was kept


async def test_the_held_connection_goes_back_to_the_pool_every_lease_statements(
    backend: PostgresBackend, pg_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HeldConnection, "LEASE_STATEMENTS", 3)
    inner = (await backend.pool()).pool  # type: ignore[attr-defined]
    busy = []
    for _ in range(7):
        await backend.execute(RECORD_PID)
        busy.append(inner.get_size() - inner.get_idle_size())
    # the fixture's CREATE TABLE was the lease's first statement: handed back after every third, leased again after
    assert busy == [1, 0, 1, 1, 0, 1, 1]
    assert len(await pids(pg_pool)) == 7


async def test_the_held_connection_goes_back_to_the_pool_once_held_lease_seconds(
    backend: PostgresBackend, pg_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HeldConnection, "LEASE_SECONDS", 0.0)  # every lease is old enough after its statement
    inner = (await backend.pool()).pool  # type: ignore[attr-defined]
    for _ in range(3):
        await backend.execute(RECORD_PID)
        assert inner.get_size() - inner.get_idle_size() == 0
    assert len(await pids(pg_pool)) == 3


async def test_the_pools_query_limit_recycles_the_held_connection(
    postgres_url: str, pg_pool: Any, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg closes a connection that ran ``max_queries`` when it comes back to the pool (a guard against
    server-side memory growth); a held connection that never came back escaped it."""
    monkeypatch.setattr(HeldConnection, "LEASE_STATEMENTS", 2)
    await pg_pool.execute(f"CREATE TABLE {unique_name} (n BIGSERIAL PRIMARY KEY, pid INT NOT NULL)")
    try:
        inner = await asyncpg.create_pool(postgres_url, min_size=1, max_size=2, max_queries=2,
                                          server_settings={"search_path": unique_name})
        held = HeldConnection(ServerPool(inner, postgres_url))
        try:
            for _ in range(6):
                await held.execute(f"INSERT INTO {unique_name} (pid) SELECT pg_backend_pid()")
        finally:
            await held.close()
            await asyncio.wait_for(inner.close(), HANG_GUARD)
        used = [r["pid"] for r in await pg_pool.fetch(f"SELECT pid FROM {unique_name} ORDER BY n")]
        assert len(used) == 6 and len(set(used)) == 3  # a fresh server connection every two statements
    finally:
        await pg_pool.execute(f"DROP TABLE {unique_name}")


async def test_a_held_connection_closed_while_idle_is_replaced_before_the_next_statement(
    backend: PostgresBackend, pg_pool: Any
) -> None:
    await backend.execute(RECORD_PID)
    [lost] = await pids(pg_pool)
    assert await pg_pool.fetchval("SELECT pg_terminate_backend($1)", lost)
    inner = (await backend.pool()).pool  # type: ignore[attr-defined]
    while inner.get_size() != inner.get_idle_size():  # until the pool has seen that connection close
        await asyncio.sleep(0.01)
    await asyncio.wait_for(backend.execute(RECORD_PID), HANG_GUARD)  # no failure: checked before use
    await backend.execute(RECORD_PID)
    [_, new, again] = await pids(pg_pool)
    assert new != lost and again == new  # and the replacement is held in turn


async def test_a_held_connection_lost_under_a_statement_fails_clearly_once_then_recovers(
    backend: PostgresBackend, pg_pool: Any
) -> None:
    for _ in range(20):  # the server's goodbye races the next statement: any of its outcomes, many times over
        await backend.execute(RECORD_PID)
        lost = (await pids(pg_pool))[-1]
        assert await pg_pool.fetchval("SELECT pg_terminate_backend($1)", lost)
        try:
            await asyncio.wait_for(backend.execute("SELECT 1"), HANG_GUARD)
        except StoreConnectionError as exc:  # never a raw driver error
            assert "PostgreSQL" in str(exc) and "not acknowledged" in str(exc)
        await asyncio.wait_for(backend.execute(RECORD_PID), HANG_GUARD)  # the next one runs on a fresh connection
        assert (await pids(pg_pool))[-1] != lost


async def test_a_cancelled_statement_leaves_no_open_transaction_behind(backend: PostgresBackend, pg_pool: Any) -> None:
    await backend.execute(RECORD_PID)
    task = asyncio.create_task(backend.execute(f"{RECORD_PID} FROM pg_sleep(30)"))
    while await pg_pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
                                 "AND pid <> pg_backend_pid()") == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(backend.execute(RECORD_PID), HANG_GUARD)
    assert len(await pids(pg_pool)) == 2  # the next statement committed on its own


async def test_close_waits_for_the_statement_in_flight_then_returns(backend: PostgresBackend, pg_pool: Any) -> None:
    await backend.execute(RECORD_PID)
    pool = await backend.pool()
    task = asyncio.create_task(backend.execute(f"{RECORD_PID} FROM pg_sleep(0.2)"))
    await asyncio.sleep(0)  # the statement is on the held connection now
    await asyncio.wait_for(backend.release(), HANG_GUARD)
    assert await task == "INSERT 0 1"
    assert len(await pids(pg_pool)) == 2
    with pytest.raises(StoreConnectionError):  # the pool is closed
        await pool.fetchval("SELECT 1")


async def test_closing_an_idle_backend_does_not_wait_for_its_held_connection(pg_schema_url: str) -> None:
    b = open_backend(pg_schema_url, shared=False)
    assert isinstance(b, PostgresBackend)
    await b.execute("SELECT 1")
    await asyncio.wait_for(b.release(), HANG_GUARD)  # Pool.close() would wait forever for a connection never given back
    with pytest.raises(RuntimeError, match="closed"):
        await b.execute("SELECT 1")


async def test_a_borrowed_pool_is_never_held(pg_pool: Any) -> None:
    borrowed = PostgresBackend.borrow(pg_pool)
    await borrowed.execute("SELECT 1")
    assert pg_pool.get_size() == pg_pool.get_idle_size()  # its owner may close it while stores still hold it
    await borrowed.release()
