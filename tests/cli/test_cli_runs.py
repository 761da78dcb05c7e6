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
