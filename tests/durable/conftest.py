"""Fixtures for durable runs: the shared chat-completions server (counting calls), team files that use it, worker
processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .._support.chat_server import ChatServer, echo_answer

pytest.importorskip("dbos")


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    """The shared chat-completions test server answering ``re: <prompt>`` after 0.2 s; ``chat.calls`` counts."""
    with ChatServer(echo_answer) as server:
        server.delay = 0.2
        yield server


TEAM_YAML = """team: durable_pair
llm: {{provider: openai, base_url: "{base_url}", model: counting, max_retries: 0, timeout: 30}}
agents:
  - {{name: first, prompt: "First: {{query}}"}}
  - {{name: second, prompt: "Second: {{first}}"}}
"""


@pytest.fixture
def team_file(tmp_path: Path, chat: ChatServer) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM_YAML.format(base_url=chat.base_url), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite store URL; the team files' provider finds its API key in the environment."""
    monkeypatch.setenv("LLMTEAM_API_KEY", "test-key")
    return f"sqlite:///{tmp_path}/runs.db"


SOLO_YAML = TEAM_YAML.rsplit("  - {{name: second", 1)[0]  # the same team with its first agent only


class Worker:
    """``llmteam worker`` in a child process; ``start`` waits for its ready line and learns its executor id.

    ``executor_id=None`` lets the worker choose its default (``host-pid-random``). Its stderr goes to a file
    (a pipe nobody reads could fill up and stall a long-running worker); ``errors()`` reads it.
    """

    def __init__(self, team_file: Path | list[Path], db: str, executor_id: str | None = "w1",
                 extra: tuple[str, ...] = ()) -> None:
        files = [str(f) for f in (team_file if isinstance(team_file, list) else [team_file])]
        named = ("--executor-id", executor_id) if executor_id is not None else ()
        self.args = [sys.executable, "-c", "from llmteam.cli import main; main()", "worker", *files,
                     "--db", db, *named, *extra]
        self.proc: subprocess.Popen[str] | None = None
        self.name = executor_id
        self.stderr = tempfile.TemporaryFile("w+")

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process without waiting (start several, then ``wait_ready`` each)."""
        env = {**os.environ, "LLMTEAM_API_KEY": "test-key"}
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env)

    def wait_ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()  # hang guard: the test's own timeout
        if "ready" not in line:
            raise AssertionError(f"worker did not start: {line!r} {self.errors()[-2000:]}")
        self.name = line.split()[1]

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
