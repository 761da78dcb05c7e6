"""kill -9 of run_tests.py, or of the supervisor alone, leaves no process of the run behind: also a daemon a test
started with an empty environment (no TESTRUNNER_RUN tag) in a session of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

DAEMONS = """
import os, subprocess, sys, time

CODE = "import os, time; open(os.path.join({out!r}, str(os.getpid())), 'w').close(); time.sleep(600)"


def test_leave_untagged_daemons():
    for _ in range(2):
        subprocess.run(["setsid", "-f", sys.executable, "-c", CODE], env={{}}, check=True)
    time.sleep(600)
"""


def _start(project: Any) -> tuple[subprocess.Popen[bytes], Any]:
    out = project.root / "pids"
    out.mkdir()
    project.write("tests/leave/test_leave.py", DAEMONS.format(out=str(out)))
    report = project.root / "r.json"
    proc = subprocess.Popen(project.command("--timeout", "600", "--json", str(report)), cwd=project.root,
                            env=project.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # a hang guard: nested runs start slowly on a loaded machine
    while len(os.listdir(out)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, out


def _stop(proc: subprocess.Popen[bytes], out: Any) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in os.listdir(out):
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def test_kill_9_of_run_tests_kills_untagged_daemons(project: Any, left_running: Any) -> None:
    proc, out = _start(project)
    try:
        daemons = [int(p) for p in os.listdir(out)]
        assert len(daemons) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert left_running(daemons) == []
    finally:
        _stop(proc, out)


def test_kill_9_of_the_supervisor_kills_untagged_daemons(project: Any, left_running: Any) -> None:
    proc, out = _start(project)
    try:
        daemons = [int(p) for p in os.listdir(out)]
        assert len(daemons) == 2
        supervisor = json.loads((project.root / "r.json").read_text())["supervisor_pid"]
        os.kill(supervisor, signal.SIGKILL)
        assert proc.wait(timeout=120) == 2  # run_tests.py says the run was interrupted
        assert left_running(daemons) == []
    finally:
        _stop(proc, out)
