"""Worker liveness: heartbeats, exactly-one claim of a dead worker, automatic hand-off through DBOS's recovery
path (pinned), and a killed worker's runs finishing on a live one without an operator."""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS

from llmteam.durable import DurableError, DurableRuntime
from llmteam.durable._engine import recover_executors
from llmteam.durable._liveness import Liveness, check_periods, default_executor_id
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team, load_team

from .._support.chat_server import ChatServer
from .conftest import Worker
from .test_durable_worker import _progress_or_done, assert_exactly_once

ROOT = Path(__file__).resolve().parents[2]


def no_recovery(ids: list[str]) -> int:
    return 0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(system database URL, schema) on SQLite and on PostgreSQL (a schema of this test's own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/sys.db", "dbos"
    else:
        request.getfixturevalue("pg_pool")  # creates the schema, drops it after the test
        yield request.getfixturevalue("postgres_url"), request.getfixturevalue("unique_name")


def wait_stale(live: Liveness, dead: str) -> None:
    for _ in range(1500):  # hang guard only: the row goes stale once dead_after has passed on the db clock
        if dead in live.stale():
            return
        time.sleep(0.02)
    raise AssertionError(f"{dead} never went stale: {live.workers()}")


def test_exactly_one_live_worker_claims_a_dead_one(system: tuple[str, str]) -> None:
    url, schema = system
    dead = Liveness(url, schema, "dead", no_recovery, heartbeat=2, dead_after=5)  # 5 s: the race fits in it
    dead.register()
    adopted: list[tuple[str, list[str]]] = []
    lock = threading.Lock()

    def recover_as(me: str) -> Any:
        def recover(ids: list[str]) -> int:
            with lock:
                adopted.append((me, ids))
            return 1
        return recover

    live = [Liveness(url, schema, f"live{i}", recover_as(f"live{i}"), heartbeat=2, dead_after=5)
            for i in range(6)]
    try:
        for w in live:
            w.register()
        wait_stale(live[0], "dead")
        barrier = threading.Barrier(len(live))
        results: list[dict[str, int]] = []

        def race(w: Liveness) -> None:
            assert w.beat()  # alive: only "dead" is silent
            barrier.wait()
            found = w.hand_over()
            with lock:
                results.append(found)

        threads = [threading.Thread(target=race, args=(w,)) for w in live]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == len(live)
        mine = [(me, ids) for me, ids in adopted if ids == ["dead"]]
        assert len(mine) == 1, adopted  # exactly one claimer resumed the dead worker's runs
        info = {w.executor_id: w for w in live[0].workers()}
        assert info["dead"].done and info["dead"].claimed_by == mine[0][0]
        assert not dead.beat()  # a worker declared dead learns it at its next beat (and stops)
        assert live[1].beat() and not live[1].claim("dead")  # a fresh claim holds (until it is stale itself)
        dead.register()  # restarted with its id: alive again, claimable again once it goes silent
        assert dead.beat() and not {w.executor_id: w for w in live[0].workers()}["dead"].done
    finally:
        for w in [dead, *live]:
            w.close()


def test_a_claim_whose_claimer_died_is_taken_over(system: tuple[str, str]) -> None:
    url, schema = system
    # dead_after 3 s: the two claims below happen well within it even on a loaded machine
    dead = Liveness(url, schema, "dead", no_recovery, heartbeat=1, dead_after=3)
    first = Liveness(url, schema, "first", no_recovery, heartbeat=1, dead_after=3)
    second = Liveness(url, schema, "second", lambda ids: len(ids), heartbeat=1, dead_after=3)
    try:
        for w in (dead, first, second):
            w.register()
        wait_stale(first, "dead")
        assert first.claim("dead")  # ... and "first" dies before resuming the runs and marking it done
        assert not second.claim("dead")  # a fresh claim holds
        found: dict[str, int] = {}
        for _ in range(1500):  # hang guard: the claim goes stale dead_after after it was made
            found.update(second.hand_over())
            if "dead" in found:
                break
            time.sleep(0.02)
        assert found.get("dead") == 1  # the stale claim is taken over (and its silent claimer, "first", too)
    finally:
        for w in (dead, first, second):
            w.close()


def test_periods_and_default_ids_are_checked() -> None:
    assert re.fullmatch(r".+-\d+-[0-9a-f]{6}", default_executor_id())
    assert default_executor_id() != default_executor_id()
    with pytest.raises(DurableError, match="dead_after=1s must be at least twice heartbeat=1s"):
        check_periods(1, 1)
    with pytest.raises(DurableError, match="heartbeat=0 must be a number of seconds > 0"):
        check_periods(0, 1)
    with pytest.raises(DurableError, match="dead_after"):
        DurableRuntime(Team("t", llm=ScriptedLLM(default="x"), agents=[Agent("a", prompt="{q}")]), "sqlite:///x.db",
                       heartbeat=5, dead_after=6)


def test_the_dbos_recovery_path_we_call_is_pinned(tmp_path: Path) -> None:
    """``recover_executors`` is our one call into DBOS's private API: fail here if an upgrade changes it."""
    pins = re.search(r'"dbos>=([\d.]+),<(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert pins is not None, "pyproject.toml must pin dbos to a range"
    installed = version("dbos")
    major, minor = (int(x) for x in installed.split(".")[:2])
    low = tuple(int(x) for x in pins.group(1).split(".")[:2])
    assert low <= (major, minor) and major < int(pins.group(2)), (installed, pins.group(0))
    params = list(inspect.signature(DBOS._recover_pending_workflows).parameters)
    assert params == ["executor_ids"], params
    from dbos import _recovery, _sys_db
    assert list(inspect.signature(_recovery.recover_pending_workflows).parameters) == ["dbos", "executor_ids"]
    # re-queueing (not running in place) is what makes a duplicate recovery harmless: pin that it is conditional
    source = inspect.getsource(_sys_db.SystemDatabase.reenqueue_for_recovery)
    assert "executor_id.in_(executor_ids)" in source and "WorkflowStatusString.PENDING" in source

    async def body() -> None:
        team = Team("pin", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="Say {q}")])
        async with DurableRuntime(team, f"sqlite:///{tmp_path}/p.db", tenant="acme") as rt:
            assert recover_executors(["nobody"]) == 0
            assert (await rt.run({"q": "x"}, timeout=60)).output == "ok"
            assert recover_executors([rt.executor_id]) == 0  # its run finished: nothing PENDING to recover

    asyncio.run(body())


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_killed_workers_runs_resume_on_a_live_one_without_an_operator(
        chat: ChatServer, team_file: Path, db: str) -> None:
    fast = ("--heartbeat", "0.2", "--dead-after", "2")
    doomed = Worker(team_file, db, executor_id=None, extra=("--concurrency", "1", *fast))
    live = Worker(team_file, db, executor_id=None, extra=fast)
    async with DurableRuntime(load_team(team_file), db, serve=False) as rt:
        ids = [await rt.submit({"query": f"case {i}"}, tenant="t0", run_id=f"run-{i}") for i in range(3)]
        doomed.start()
        try:
            assert await _progress_or_done(chat, 0, rt, ids)
            doomed.kill()  # mid-run: its run stays PENDING under its id, which no worker will ever use again
            pending = [s.run_id for s in [await rt.status(i) for i in ids]
                       if s.status == "PENDING" and s.executor == doomed.name]
            assert pending
            live.start()
            results = [await rt.result(i, timeout=240) for i in ids]
        finally:
            doomed.stop()
            live.stop()
        assert doomed.name != live.name and live.name is not None and re.fullmatch(r".+-\d+-[0-9a-f]{6}", live.name)
        after = [await rt.status(i) for i in pending]
        assert all(s.executor == live.name for s in after), (after, live.errors()[-2000:])
        await assert_exactly_once(rt, chat, results, 1, 3)


def test_a_worker_declared_dead_stops_instead_of_running_its_runs_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sys.db"
    stalled = Liveness(url, "dbos", "stalled", no_recovery, heartbeat=0.05, dead_after=0.5)
    other = Liveness(url, "dbos", "other", no_recovery, heartbeat=0.05, dead_after=0.5)
    try:
        stalled.register()
        other.register()
        wait_stale(other, "stalled")
        assert other.claim("stalled")
        stopped = threading.Event()
        stalled.start(stopped.set)  # its heartbeat thread learns it at its first beat
        assert stopped.wait(60)  # hang guard only
    finally:
        stalled.close()
        other.close()


def test_a_dead_worker_is_checked_again_for_runs_it_took_after_its_hand_over(system: tuple[str, str]) -> None:
    """A stalled worker may take a run just before it learns it was declared dead: the next claim resumes it."""
    url, schema = system
    recovered: list[list[str]] = []
    zombie = Liveness(url, schema, "zombie", no_recovery, heartbeat=0.05, dead_after=0.2)
    live = Liveness(url, schema, "live", lambda ids: recovered.append(ids) or 1, heartbeat=0.05, dead_after=0.2)
    try:
        zombie.register()
        live.register()
        found: dict[str, int] = {}
        for _ in range(500):  # hang guard: claimed once, then again once that claim is stale too
            live.beat()
            found.update(live.hand_over())
            if len(recovered) >= 2:
                break
            time.sleep(0.02)
        assert recovered[:2] == [["zombie"], ["zombie"]] and found == {"zombie": 1}
    finally:
        zombie.close()
        live.close()


def test_worker_command_refuses_a_dead_after_shorter_than_two_beats(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llmteam.cli import app

    (tmp_path / "t.yaml").write_text("team: x\nllm: {provider: scripted}\nagents:\n  - {name: a, prompt: 'Hi {q}'}\n")
    done = CliRunner().invoke(app, ["worker", str(tmp_path / "t.yaml"), "--db", f"sqlite:///{tmp_path}/d.db",
                                    "--heartbeat", "5", "--dead-after", "6"])
    assert done.exit_code == 2 and "--dead-after 6 must be at least twice --heartbeat 5" in done.output
