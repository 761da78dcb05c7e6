"""Processes re-parented to the supervisor while workers run: counted against the memory cap and killed, also when
a test starts them with an empty environment (no TESTRUNNER_RUN tag) and in a session of their own."""

from __future__ import annotations

import os
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

# each daemon: env={} (untagged), `setsid -f` (a session of its own, re-parented to the supervisor at once)
UNTAGGED_HOGS = """
import os, subprocess, sys, time

HOG = (
    "import os, time\\n"
    "open(os.path.join({out!r}, str(os.getpid())), 'w').close()\\n"
    "x = bytearray({mib} * 2**20)\\n"
    "x[::4096] = b'y' * len(x[::4096])\\n"
    "time.sleep(600)\\n"
)


def test_untagged_daemons():
    for _ in range({count}):
        subprocess.run(["setsid", "-f", sys.executable, "-c", HOG], env={{}}, check=True)
    time.sleep(120)  # the supervisor kills this test's tree long before
"""


def test_untagged_daemons_count_against_the_cap_and_die_with_the_worker(project: Any, left_running: Any) -> None:
    out = project.root / "pids"
    out.mkdir()
    project.write("tests/hogs/test_hogs.py", UNTAGGED_HOGS.format(mib=150, out=str(out), count=3))
    try:
        result = project.run("--mem-limit", "256M", "--timeout", "300", timeout=600)
        culprits = result.module("hogs")["culprits"]
        assert [(c["nodeid"], c["cause"]) for c in culprits] == [
            ("tests/hogs/test_hogs.py::test_untagged_daemons", "memory")], result.stdout + result.stderr
        assert os.listdir(out)  # they did start
        assert left_running([int(pid) for pid in os.listdir(out)]) == []
    finally:
        for pid in os.listdir(out):
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
