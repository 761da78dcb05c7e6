"""ServerState and create_app: team loading, readiness, the in-flight bound, the lifespan, a light import."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmteam.server import ServerState, create_app, load_teams
from llmteam.server._charts import bars
from llmteam.team import TeamConfigError
from tests.server.conftest import TEAM_YAML, bearer


def test_load_teams_by_name_and_refusals(tmp_path: Path) -> None:
    assert load_teams(None) == {}
    (tmp_path / "a.yaml").write_text(TEAM_YAML)
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "a.yaml")  # symlinks are skipped, not followed
    assert list(load_teams(tmp_path)) == ["support"]
    (tmp_path / "b.yml").write_text(TEAM_YAML)
    with pytest.raises(TeamConfigError, match="two team files"):
        load_teams(tmp_path)
    with pytest.raises(TeamConfigError, match="not a directory"):
        load_teams(tmp_path / "missing")


def test_memory_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="memory"):
        ServerState("memory://")


async def test_readiness_names_an_unreachable_store(state: Any, monkeypatch: Any) -> None:
    assert set((await state.readiness()).values()) == {"ok"}

    async def down() -> None:
        raise ConnectionRefusedError("postgresql://user:secret@db/x")

    monkeypatch.setattr(state.key_store, "ping", down)
    checks = await state.readiness()
    assert checks["keys"] == "unreachable (ConnectionRefusedError)" and "secret" not in str(checks)


async def test_readyz_is_503_when_a_store_is_down(client: Any, state: Any, monkeypatch: Any) -> None:
    async def down() -> None:
        raise OSError("gone")

    monkeypatch.setattr(state.key_store, "ping", down)
    r = await client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["keys"].startswith("unreachable")


async def test_in_flight_runs_are_bounded(client: Any, state: Any, make_key: Any) -> None:
    token = await make_key()
    state.max_inflight = 0
    r = await client.post("/v1/runs", json={"team": "support", "input": {"query": "x"}}, headers=bearer(token))
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert await state.run_store.list("acme", 10, 0) == []


async def test_lifespan_opens_and_closes_the_stores(db_url: str, teams_dir: Path) -> None:
    app = create_app(db_url, teams_dir=str(teams_dir))
    server = app.state.llmteam
    async with app.router.lifespan_context(app):
        assert server.opened and set((await server.readiness()).values()) == {"ok"}
        await server.submit("support", "acme", {"query": "x"})
        await asyncio.gather(*server.inflight.values())
    assert not server.opened and server.inflight == {}


def test_importing_llmteam_and_the_key_api_does_not_import_fastapi() -> None:
    code = ("import sys, llmteam, llmteam.server, llmteam.server.stores; "
            "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'jinja2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_bars_scale_to_the_largest_value() -> None:
    rows, height = bars({"a": 10.0, "b": 5.0, "c": 0.0}, width=200)
    assert [(b.label, b.width) for b in rows] == [("a", 200.0), ("b", 100.0), ("c", 2.0)] and height == 84
    assert bars({}) == ([], 28)


async def test_a_team_whose_runtime_is_slow_to_open_holds_up_no_other_team(db_url: str) -> None:
    from llmteam.llm import ScriptedLLM
    from llmteam.team import Agent, Team, TeamRuntime

    slow = Team("slow", llm=ScriptedLLM(default="x"), agents=[Agent("w", prompt="p")])
    quick = Team("quick", llm=ScriptedLLM(default="x"), agents=[Agent("w", prompt="p")])
    state = await ServerState(db_url, teams={"slow": slow, "quick": quick}).open()
    opened, stalled = TeamRuntime.open, asyncio.Event()

    async def open_slowly(rt: TeamRuntime) -> TeamRuntime:
        if rt.team is slow:  # an MCP server that takes its whole connect timeout, say
            await stalled.wait()
        return await opened(rt)

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(TeamRuntime, "open", open_slowly)
            opening = asyncio.ensure_future(state.runtime("slow"))
            await asyncio.sleep(0.05)
            rt = await asyncio.wait_for(state.runtime("quick"), 30)  # before the fix: waited for "slow" to open
            assert rt.team is quick and not opening.done()
            stalled.set()
            assert (await opening).team is slow
            assert await state.runtime("slow") is await opening  # opened once, then reused
    finally:
        stalled.set()
        await state.close()


@pytest.mark.parametrize("change", ["removed", "replaced"])
async def test_a_runtime_opened_for_a_team_changed_meanwhile_is_retired(state: Any, teams_dir: Path,
                                                                        change: str) -> None:
    # the team file is deleted (or rewritten) and reloaded while the team's runtime opens: the runtime opened for
    # the stale definition must not stay installed (its stores and MCP subprocesses open for ever)
    from llmteam.team import TeamRuntime

    opened, started, reloaded = TeamRuntime.open, asyncio.Event(), asyncio.Event()

    async def open_slowly(rt: TeamRuntime) -> TeamRuntime:
        started.set()
        await reloaded.wait()  # an MCP server's connect, say
        return await opened(rt)

    stale = state.teams["support"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TeamRuntime, "open", open_slowly)
        opening = asyncio.ensure_future(state.lease("support"))
        await started.wait()
        if change == "removed":
            (teams_dir / "support.yaml").unlink()
        else:
            (teams_dir / "support.yaml").write_text(TEAM_YAML.replace("We have corrected", "Reloaded:"))
        assert await state.reload_teams()
        reloaded.set()
        rt = await opening
    assert rt.team is stale and state.teams.get("support") is not stale
    assert rt not in state._runtimes.values() and rt in state._retired  # before the fix: installed, never retired
    assert not rt._closed  # the lease's run still uses it
    state.release(rt)
    await asyncio.gather(*state._closing)
    assert rt._closed and rt not in state._retired
    if change == "replaced":
        current = await state.runtime("support")
        assert current.team is state.teams["support"] and not current._closed
