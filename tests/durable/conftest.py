"""Fixtures for durable runs: a counting chat-completions server, team files that use it, worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dbos")


class CountingChat:
    """A local OpenAI-compatible chat server that answers after ``delay`` s and counts requests per prompt.

    It streams (SSE, one word per chunk) when the request asks to: durable runs publish their tokens.
    """

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                prompt = body["messages"][-1]["content"]
                with chat.lock:
                    chat.calls[prompt] += 1
                chat.stop.wait(chat.delay)
                answer = f"re: {prompt}"
                usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
                if body.get("stream"):  # SSE, one word per chunk, usage last (as stream_options asks)
                    words = answer.split(" ")
                    chunks = [{"model": "counting", "choices": [{"index": 0, "delta": {
                        "content": w if i == 0 else f" {w}"}}]} for i, w in enumerate(words)]
                    chunks.append({"model": "counting", "choices": [{"index": 0, "delta": {},
                                                                      "finish_reason": "stop"}]})
                    chunks.append({"model": "counting", "choices": [], "usage": usage})
                    data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"
                    kind = "text/event-stream"
                else:
                    data = json.dumps({"model": "counting", "usage": usage, "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": answer}}]}).encode()
                    kind = "application/json"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def total(self) -> int:
        with self.lock:
            return sum(self.calls.values())


@pytest.fixture
def chat() -> Iterator[CountingChat]:
    server = CountingChat()
    server.thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(5)


TEAM_YAML = """team: durable_pair
llm: {{provider: openai, base_url: "{base_url}", model: counting, max_retries: 0, timeout: 30}}
agents:
  - {{name: first, prompt: "First: {{query}}"}}
  - {{name: second, prompt: "Second: {{first}}"}}
"""


@pytest.fixture
def team_file(tmp_path: Path, chat: CountingChat) -> Path:
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
