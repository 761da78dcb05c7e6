"""``llmteam worker``: bad team files and store URLs fail clearly (the crash test runs real workers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("dbos")

from llmteam.cli import app  # noqa: E402

runner = CliRunner()


def test_a_bad_team_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("team: x\nagents: nope\n", encoding="utf-8")
    done = runner.invoke(app, ["worker", str(bad), "--db", f"sqlite:///{tmp_path}/w.db"])
    assert done.exit_code == 2 and "agents" in done.output


def test_a_memory_store_cannot_hold_durable_runs(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text('team: t\nllm: {provider: scripted, default: "ok"}\nagents:\n  - {name: a, prompt: "Hi {q}"}\n',
                    encoding="utf-8")
    done = runner.invoke(app, ["worker", str(team), "--db", "memory://"])
    assert done.exit_code == 1 and "durable runs need a database" in done.output
