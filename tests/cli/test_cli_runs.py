"""``llmteam run --detach`` and ``llmteam runs list|show|cancel|resume`` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("dbos")

from llmteam.cli import app  # noqa: E402

runner = CliRunner()
TEAM = """team: detached
llm: {provider: scripted, default: "ok"}
agents:
  - {name: a, prompt: "Answer {query}"}
"""


def test_detach_queues_a_run_that_runs_show_cancel_and_resume_manage(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM, encoding="utf-8")
    db = f"sqlite:///{tmp_path}/cli.db"
    done = runner.invoke(app, ["run", str(team), "--tenant", "acme", "--input", '{"query": "q"}', "--db", db,
                               "--detach"])
    assert done.exit_code == 0, done.output
    run_id = done.output.strip()
    shown = runner.invoke(app, ["runs", "show", run_id, "--db", db, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["status"] == "ENQUEUED"  # no worker: it waits in its tenant's queue
    assert runner.invoke(app, ["runs", "cancel", run_id, "--db", db]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["runs", "list", "--db", db, "--json"]).output)
    assert [(r["run_id"], r["status"], r["tenant"]) for r in listed] == [(run_id, "CANCELLED", "acme")]
    for tenant, expected in (("acme", [run_id]), ("globex", [])):
        mine = runner.invoke(app, ["runs", "list", "--db", db, "--tenant", tenant, "--json"])
        assert [r["run_id"] for r in json.loads(mine.output)] == expected, mine.output
    assert runner.invoke(app, ["runs", "resume", run_id, "--db", db]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["runs", "show", run_id, "--db", db, "--json"]).output)
    assert shown["status"] == "ENQUEUED"


def test_unknown_and_malformed_run_ids_fail_clearly(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM, encoding="utf-8")
    db = f"sqlite:///{tmp_path}/cli.db"
    runner.invoke(app, ["run", str(team), "--tenant", "acme", "--input", '{"query": "q"}', "--db", db, "--detach"])
    missing = runner.invoke(app, ["runs", "show", "nope", "--db", db])
    assert missing.exit_code == 1 and "no durable run 'nope'" in missing.output
    bad = runner.invoke(app, ["runs", "cancel", "../etc", "--db", db])
    assert bad.exit_code == 1 and "must be 1-128 letters" in bad.output
    memory = runner.invoke(app, ["runs", "list", "--db", "memory://"])
    assert memory.exit_code == 1 and "need a database" in memory.output


def test_a_missing_or_unreachable_system_database_is_a_clear_error(tmp_path: Path) -> None:
    fresh = runner.invoke(app, ["runs", "list", "--db", f"sqlite:///{tmp_path}/fresh.db"])
    assert fresh.exit_code == 1 and "DBOS system database" in fresh.output and "Traceback" not in fresh.output
    down = runner.invoke(app, ["runs", "list", "--db", "postgresql://u:secret@127.0.0.1:1/nope"])
    assert down.exit_code == 1 and "DBOS system database" in down.output
    assert "secret" not in down.output


GATED = """team: gated
llm: {provider: scripted, default: "ok"}
agents:
  - {name: a, prompt: "Answer {query}", approval: true}
"""


def _paused_run(tmp_path: Path) -> tuple[str, str, Path]:
    """A run of the gated team that a worker (this process, briefly) paused for approval; then no worker."""
    import asyncio

    from llmteam.durable import DurableRuntime
    from llmteam.team import load_team

    team = tmp_path / "gated.yaml"
    team.write_text(GATED, encoding="utf-8")
    db = f"sqlite:///{tmp_path}/cli.db"

    async def pause() -> str:
        async with DurableRuntime(load_team(team), db, tenant="acme") as rt:
            run_id = await rt.submit({"query": "q"})
            for _ in range(1200):  # hang guard only
                if (await rt.status(run_id)).status == "AWAITING_APPROVAL":
                    return run_id
                await asyncio.sleep(0.05)
        raise AssertionError("the run never paused")

    return asyncio.run(pause()), db, team


def _finish(db: str, team: Path, run_id: str) -> str:
    import asyncio

    from llmteam.durable import DurableRuntime
    from llmteam.team import load_team

    async def work() -> str:
        async with DurableRuntime(load_team(team), db, tenant="acme") as rt:
            return (await rt.result(run_id, timeout=60)).output

    return asyncio.run(work())


def test_pending_approve_and_retry_through_the_cli(tmp_path: Path) -> None:
    import getpass

    run_id, db, team = _paused_run(tmp_path)
    shown = runner.invoke(app, ["runs", "show", run_id, "--db", db, "--json"])
    assert json.loads(shown.output)["status"] == "AWAITING_APPROVAL"
    listed = runner.invoke(app, ["runs", "pending", "--db", db, "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["run_id"], row["step"], row["agent"], row["tool"], row["deadline"]) == (run_id, 1, "a", None, None)
    table = runner.invoke(app, ["runs", "pending", run_id, "--db", db])
    assert table.exit_code == 0 and "acme" in table.output
    wrong = runner.invoke(app, ["runs", "approve", run_id, "--step", "2", "--db", db])
    assert wrong.exit_code == 1 and "waits for the approval of step 1, not step 2" in wrong.output
    assert "Traceback" not in wrong.output
    done = runner.invoke(app, ["runs", "approve", run_id, "--reason", "fine", "--db", db, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"run_id": run_id, "decision": "approved", "approver": getpass.getuser(),
                                       "step": None}
    again = runner.invoke(app, ["runs", "approve", run_id, "--db", db, "--json"])
    assert again.exit_code == 1 and "not waiting for an approval" in again.output
    assert _finish(db, team, run_id) == "ok"
    assert json.loads(runner.invoke(app, ["runs", "pending", "--db", db, "--json"]).output) == []
    bad = runner.invoke(app, ["runs", "retry", run_id, "--from-step", "4", "--db", db])
    assert bad.exit_code == 1 and "has no step 4 to retry from" in bad.output
    retried = runner.invoke(app, ["runs", "retry", run_id, "--from-step", "1", "--db", db, "--json"])
    assert retried.exit_code == 0, retried.output
    new = json.loads(retried.output)
    assert new["retry_of"] == run_id and new["run_id"] != run_id


def test_deny_needs_a_reason_and_names_the_approver(tmp_path: Path) -> None:
    run_id, db, team = _paused_run(tmp_path)
    missing = runner.invoke(app, ["runs", "deny", run_id, "--db", db])
    assert missing.exit_code == 2 and "--reason" in missing.output
    blank = runner.invoke(app, ["runs", "deny", run_id, "--reason", " ", "--db", db])
    assert blank.exit_code == 1 and "non-blank reason" in blank.output
    denied = runner.invoke(app, ["runs", "deny", run_id, "--reason", "too risky", "--as", "auditor", "--db", db])
    assert denied.exit_code == 0 and "denied" in denied.output and "auditor" in denied.output
    import pytest as _pytest

    from llmteam.durable import RunFailedError
    with _pytest.raises(RunFailedError, match="denied by 'auditor': too risky"):
        _finish(db, team, run_id)
