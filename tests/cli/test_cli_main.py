"""The ``llmteam`` entry point: help that renders as it should (the pinned typer range), and ``--version``."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from llmteam.cli import app

from .test_cli_errors import COMMANDS

runner = CliRunner()


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: "-".join(c) or "llmteam")
def test_help_names_arguments_in_capitals_and_shows_no_type_noise(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"}, prog_name="llmteam")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text and "<str>" not in text and "<int>" not in text
    assert not re.search(r"\{[a-z_]+\}", text), text  # arguments are TEAM_FILE, never {team_file}
    assert "Usage: llmteam" in text and "--help" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_run_help_shows_the_argument_and_its_help() -> None:
    text = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "100"}, prog_name="llmteam").output
    assert "Usage: llmteam run [OPTIONS] TEAM_FILE" in text
    assert "Team definition (YAML)." in text
    assert "--create-tenant" in text and "--no-create-tenant" in text


def test_version_in_process_and_through_the_console_script(llmteam) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"llmteam {version('llmteam')}"
    done = llmteam("--version")
    assert done.code == 0 and done.out.strip() == f"llmteam {version('llmteam')}"
