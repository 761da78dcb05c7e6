"""Per-worker isolation as pytest-xdist gives it, the process tree of each worker (memory cap, reaping, the
runner's own death), coverage data kept private, and a warm parent that never shadows the code under test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

RECORD = """
import json, os, tempfile

def test_record(worker_id, testrun_uid, tmp_path):
    with open(os.path.join({out!r}, "{name}.json"), "w") as fh:
        json.dump({{"env": os.environ.get("PYTEST_XDIST_WORKER"), "fixture": worker_id, "uid": testrun_uid,
                   "env_uid": os.environ.get("PYTEST_XDIST_TESTRUNUID"), "tmp": tempfile.gettempdir(),
                   "tmp_mode": os.stat(tempfile.gettempdir()).st_mode & 0o777,
                   "tmp_path": str(tmp_path)}}, fh)
"""


DAEMON = """
import subprocess, sys, time

def test_{name}():
    code = "import os, time; os.setsid(); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    with open({pidfile!r}, "w") as fh:
        fh.write(str(proc.pid))
    time.sleep({then})
"""


def test_each_worker_gets_xdist_ids_and_a_private_tmpdir_and_its_processes_end_with_it(project: Any,
                                                                                      left_running: Any) -> None:
    out = project.root / "out"
    out.mkdir()
    for name in ("a", "b", "c"):
        project.write(f"tests/{name}/test_{name}.py", RECORD.format(out=str(out), name=name))
    pidfile = project.root / "daemon.pid"
    project.write("tests/leave/test_leave.py", DAEMON.format(name="leave_a_daemon", pidfile=str(pidfile), then=0))
    result = project.run("--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert left_running([int(pidfile.read_text())]) == []  # a setsid daemon a test left running died with its worker
    seen = [json.loads((out / f"{n}.json").read_text()) for n in ("a", "b", "c")]
    assert {s["env"] for s in seen} <= {"gw0", "gw1"}
    assert all(s["env"] == s["fixture"] for s in seen)  # the fixture agrees with the environment, as in xdist
    assert len({s["uid"] for s in seen}) == 1 and seen[0]["uid"] == seen[0]["env_uid"] == result.report["testrun_uid"]
    assert len({s["tmp"] for s in seen}) == 3  # a private temporary directory per worker
    assert all(s["tmp_path"].startswith(s["tmp"]) for s in seen)
    # Other users may pass through it (not list it), as through /tmp: a test can hand a private directory
    # made inside it to a server it starts as another user (initdb as postgres).
    assert all(s["tmp_mode"] == 0o711 for s in seen)
    assert not any(os.path.exists(s["tmp"]) for s in seen)  # removed when the worker ended


def test_kill_9_of_the_runner_ends_its_workers_trees(project: Any, left_running: Any) -> None:
    pidfile = project.root / "grandchild.pid"
    project.write("tests/hold/test_hold.py", DAEMON.format(name="start_and_wait", pidfile=str(pidfile), then=600))
    proc = subprocess.Popen(project.command("--timeout", "600"), cwd=project.root, env=project.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # a hang guard: nested runs start slowly on a loaded machine
        while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = int(pidfile.read_text())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert left_running([grandchild]) == [], "a process started by a test outlived the SIGKILLed runner"


CHILDREN = """
import subprocess, sys

def test_four_children():
    code = "import time; x = bytearray(120 * 2**20); time.sleep(600)"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    for p in procs:
        p.wait()

def test_raise_own_limit():
    code = (
        "import resource\\n"
        "try:\\n"
        "    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\\n"
        "    print('raised')\\n"
        "except (ValueError, OSError):\\n"
        "    print('refused')\\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "refused"
"""


def test_the_memory_cap_covers_processes_a_test_starts(project: Any) -> None:
    project.write("tests/kids/test_kids.py", CHILDREN)
    result = project.run("--mem-limit", "300M", "--timeout", "120", timeout=180)
    kids = result.module("kids")
    assert [(c["nodeid"], c["cause"]) for c in kids["culprits"]] == [("tests/kids/test_kids.py::test_four_children",
                                                                       "memory")]
    assert kids["passed"] == 1  # a child cannot raise the hard limit it inherited


SHADOWED = """
import psutil


def test_imports_the_checkout():
    assert psutil.MARK == "the checkout under test"
"""


def test_the_warm_parent_never_shadows_the_code_under_test(project: Any) -> None:
    project.write("src/psutil/__init__.py", 'MARK = "the checkout under test"\n')
    project.write("tests/shadow/test_shadow.py", SHADOWED)
    result = project.run("--preload", "psutil")  # the warm parent imports the installed psutil
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.report["launcher"] == "spawn"
    assert "psutil" in result.report["launcher_note"]
    assert result.report["listed_by"] == "fresh interpreter"  # listed again without the shadowing import


PKG = "def covered():\n    return 1\n\n\ndef uncovered():\n    return 2\n"


def test_coverage_ignores_stray_data_and_finds_the_config_from_elsewhere(project: Any, tmp_path_factory: Any) -> None:
    with open(project.root / "pyproject.toml", "a") as fh:
        fh.write("parallel = true\n")
    project.write("src/mypkg/__init__.py", PKG)
    project.write("tests/cov/test_cov.py", "from mypkg import covered\n\ndef test_covered():\n    assert covered()\n")
    stray = "import sys\nsys.path.insert(0, 'src')\nimport mypkg\nmypkg.covered()\nmypkg.uncovered()\n"
    project.write("stray.py", stray)
    subprocess.run([sys.executable, "-m", "coverage", "run", "--parallel-mode", "stray.py"], cwd=project.root,
                   check=True, capture_output=True)
    assert list(project.root.glob(".coverage.*"))  # an earlier run's data, 100 % of mypkg

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    report = elsewhere / "r.json"
    proc = subprocess.run(project.command(str(project.root / "tests"), "--coverage", "--json", str(report)),
                          cwd=elsewhere, capture_output=True, text=True, timeout=120, env=project.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mypkg" in proc.stdout  # [tool.coverage.run] source came from the project's pyproject.toml:
    assert "test_cov" not in proc.stdout  # without it, coverage would measure (and list) the test files too
    assert json.loads(report.read_text())["coverage"]["percent"] < 100.0
    assert list(project.root.glob(".coverage.*"))  # the stray data is neither merged nor deleted
