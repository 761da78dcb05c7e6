"""The scheme registry and shared, reference-counted backends: one writer thread / one pool per URL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import llmteam
from llmteam.backends import (
    Backend,
    PostgresBackend,
    SQLiteBackend,
    StoreURL,
    open_backend,
    register_scheme,
    registered_schemes,
)
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team


def _writer_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("llmteam-sqlite"))


def test_builtin_schemes_are_registered() -> None:
    assert {"memory", "sqlite", "postgresql", "redis"} <= set(registered_schemes())


def test_unknown_scheme_is_a_store_url_error_from_the_public_root() -> None:
    with pytest.raises(llmteam.StoreURLError, match="nosuchdb") as info:
        open_backend("nosuchdb://x")
    assert isinstance(info.value, llmteam.LLMTeamError) and isinstance(info.value, ValueError)


async def test_a_new_scheme_registers_itself() -> None:
    closed: list[str] = []

    @register_scheme("exampledb")
    class ExampleBackend(Backend):
        async def aclose(self) -> None:
            closed.append(self.url.url)

    backend = open_backend("exampledb://host/db")
    assert isinstance(backend, ExampleBackend) and backend.url == StoreURL("exampledb", "exampledb://host/db")
    await backend.release()
    assert closed == ["exampledb://host/db"]


async def test_same_url_shares_one_backend_until_the_last_release(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    a, b = open_backend(url), open_backend(f"sqlite:///{tmp_path}/./a.db")
    assert a is b and isinstance(a, SQLiteBackend) and a.refs == 2
    await a.write(lambda c: c.execute("CREATE TABLE t (x)"))
    await a.release()
    assert await b.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()) == (0,)  # still open
    await b.release()
    await b.release()  # idempotent
    assert b.stats() == {"writer_threads": 0, "write_connections": 0}
    c = open_backend(url)  # a closed backend is never handed out again
    assert c is not a
    await c.release()


async def test_private_backend_on_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    shared, private = open_backend(url), open_backend(url, shared=False)
    assert shared is not private
    await shared.release()
    await private.release()


async def test_runtime_on_one_sqlite_file_has_one_writer_thread_and_one_write_connection(tmp_path: Path) -> None:
    before = _writer_threads()
    team = Team("t", agents=[Agent("a", prompt="{query}", llm=ScriptedLLM(default="ok"))])
    async with team.runtime(f"sqlite:///{tmp_path}/rt.db", tenant="acme") as rt:
        await rt.run({"query": "q"})
        dbs = {id(rt.tenants.store._db), id(rt.audit_store.db), id(rt.event_log._db), id(rt.run_store.db)}
        assert len(dbs) == 1
        backend = rt.audit_store.db
        assert isinstance(backend, SQLiteBackend) and backend.stats() == {"writer_threads": 1, "write_connections": 1}
        assert _writer_threads() - before == 1
    assert backend.stats() == {"writer_threads": 0, "write_connections": 0}  # closed once, by the runtime


@pytest.mark.postgres
async def test_runtime_on_postgres_has_exactly_one_pool(pg_schema_url: str) -> None:
    team = Team("t", agents=[Agent("a", prompt="{query}", llm=ScriptedLLM(default="ok"))])
    async with team.runtime(pg_schema_url, tenant="acme") as rt:
        for _ in range(2):
            await rt.run({"query": "q"})
        backends = {id(s.backend) for s in (rt.tenants.store, rt.audit_store, rt.event_log, rt.run_store)}
        assert len(backends) == 1
        backend: Any = rt.audit_store.backend
        assert isinstance(backend, PostgresBackend) and backend.pools_opened == 1
    assert not backend.connected


@pytest.mark.postgres
async def test_concurrent_first_use_opens_one_pool(pg_schema_url: str) -> None:
    backend = open_backend(pg_schema_url, shared=False)
    assert isinstance(backend, PostgresBackend)
    pools = await asyncio.gather(*(backend.pool() for _ in range(5)))
    assert len({id(p) for p in pools}) == 1 and backend.pools_opened == 1
    await backend.release()
    assert not backend.connected
