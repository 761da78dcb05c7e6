"""Fixtures for the runner's own tests: write a tiny synthetic project to tmp_path and run run_tests.py on it.

The synthetic suites (tests that leak, hang and crash) exist only inside tmp_path during a test, so the main
run never collects a test that allocates until killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RUN_TESTS = str(Path(__file__).resolve().parents[2] / "run_tests.py")

PYPROJECT = """\
[tool.pytest.ini_options]
markers = ["slow: long-running"]
addopts = "--strict-markers -p no:cacheprovider"
pythonpath = ["src"]

[tool.coverage.run]
source = ["mypkg"]
"""


@dataclass
class RunResult:
    """What one run_tests.py invocation produced."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]
    junit: ET.Element | None

    def module(self, name: str) -> dict[str, Any]:
        return next(m for m in self.report["modules"] if m["name"] == name)

    @property
    def last_line(self) -> str:
        return self.stdout.rstrip("\n").splitlines()[-1]


class Project:
    """A throw-away project directory with a pyproject, a ``tests/`` tree and an optional ``src/mypkg``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pyproject.toml").write_text(PYPROJECT)
        (root / "tests").mkdir()

    def write(self, rel: str, source: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, RUN_TESTS, *args]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("COVERAGE_PROCESS_START", None)
        return env

    def run(self, *args: str, timeout: float = 600) -> RunResult:
        """Run the runner with ``--json``/``--junitxml`` into the project and parse both reports."""
        json_path, xml_path = self.root / "report.json", self.root / "junit.xml"
        proc = subprocess.run(
            self.command("--json", str(json_path), "--junitxml", str(xml_path), *args),
            cwd=self.root, capture_output=True, text=True, timeout=timeout, env=self.env(),
        )
        report = json.loads(json_path.read_text()) if json_path.exists() else {}
        junit = ET.parse(xml_path).getroot() if xml_path.exists() else None
        return RunResult(proc.returncode, proc.stdout, proc.stderr, report, junit)

    @staticmethod
    def ordinary(prefix: str, n: int = 2) -> str:
        """Source for ``n`` trivial passing tests named ``test_<prefix>_ok_<i>``."""
        return "\n".join(f"def test_{prefix}_ok_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(n))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A fresh synthetic project in tmp_path."""
    return Project(tmp_path)


def left_running(pids: list[int], within: float = 15.0) -> list[int]:
    """Those of ``pids`` still running (not ended, nor a zombie) after waiting up to ``within`` seconds for all."""

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(map(alive, pids)):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.fixture(name="left_running")
def left_running_fixture() -> Any:
    """``left_running(pids, within=15.0)``: the processes of ``pids`` that did not end (a hang guard, not a timing)."""
    return left_running
