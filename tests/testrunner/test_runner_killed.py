"""SIGKILLing the supervisor mid-run leaves valid JSON and JUnit reports and no orphaned worker; SIGKILLing
run_tests.py (the supervisor's parent) makes the supervisor stop the run and finish the reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

SLOW_MODULE = """
import os
import time
import pytest


@pytest.mark.parametrize("i", range(40))
def test_step(i):
    # written whole or not at all: the kill may land between truncating and writing a plain open("w")
    with open(f"worker.pid.{os.getpid()}", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(f"worker.pid.{os.getpid()}", "worker.pid")
    time.sleep(0.05)
"""


def _run_until_five_passed(project: Any) -> tuple[subprocess.Popen[bytes], Any, Any]:
    project.write("tests/slowmod/test_slowmod.py", SLOW_MODULE)
    json_path, xml_path = project.root / "r.json", project.root / "r.xml"
    proc = subprocess.Popen(
        project.command("--json", str(json_path), "--junitxml", str(xml_path)),
        cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=project.env(),
    )
    try:
        deadline = time.monotonic() + 300  # a hang guard: nested runs are slow on a loaded machine
        passed = 0
        while time.monotonic() < deadline and passed < 5:
            time.sleep(0.05)
            if json_path.exists():
                passed = json.loads(json_path.read_text())["totals"]["passed"]
        assert passed >= 5
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, json_path, xml_path


def _worker_ends(project: Any) -> bool:
    worker = int((project.root / "worker.pid").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{worker}"):
        time.sleep(0.05)
    return not os.path.exists(f"/proc/{worker}")


def test_supervisor_killed_mid_run_leaves_valid_reports(project: Any) -> None:
    proc, json_path, xml_path = _run_until_five_passed(project)
    try:
        os.kill(json.loads(json_path.read_text())["supervisor_pid"], signal.SIGKILL)
        assert proc.wait(timeout=120) == 2
    finally:
        proc.kill()
        proc.wait()
    report = json.loads(json_path.read_text())
    assert report["status"] == "running" and report["exit_code"] is None
    assert report["modules"][0]["passed"] >= 5
    cases = list(ET.parse(xml_path).getroot().iter("testcase"))
    assert len(cases) >= 5
    assert _worker_ends(project), "the worker outlived its supervisor"


def test_run_tests_killed_mid_run_stops_the_run_and_finishes_the_reports(project: Any) -> None:
    proc, json_path, _ = _run_until_five_passed(project)
    supervisor = json.loads(json_path.read_text())["supervisor_pid"]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 120  # a hang guard
    while time.monotonic() < deadline and os.path.exists(f"/proc/{supervisor}"):
        time.sleep(0.05)
    report = json.loads(json_path.read_text())
    assert (report["status"], report["exit_code"], report["interrupted"]) == ("finished", 2, True)
    assert report["modules"][0]["passed"] >= 5
    assert _worker_ends(project), "the worker outlived run_tests.py"
