"""In-process checks of the runner's pure pieces: sizes, discovery, reports; and the unsafe-fork fallback."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the runner lives beside run_tests.py

from testrunner import discover, parse_size  # noqa: E402
from testrunner._report import Reporter, atomic_write, junit_names, junit_xml  # noqa: E402
from testrunner._state import CaseResult, Culprit, ModuleState  # noqa: E402


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512M", 512 * 2**20), ("1G", 2**30), ("1.5GiB", 3 * 2**29), ("4096", 4096), ("64k", 65536)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "1X"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["", "K", "M", "G"]))
def test_parse_size_units(value: int, unit: str) -> None:
    assert parse_size(f"{value}{unit}") == value * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[unit]


def test_discovery_finds_subdirectories_and_own_files(tmp_path: Path) -> None:
    (tmp_path / "tests" / "b" / "deep").mkdir(parents=True)
    (tmp_path / "tests" / "a").mkdir()
    (tmp_path / "tests" / "nothing").mkdir()
    (tmp_path / "tests" / "b" / "deep" / "test_x.py").write_text("")
    (tmp_path / "tests" / "a" / "x_test.py").write_text("")
    (tmp_path / "tests" / "nothing" / "conftest.py").write_text("")
    (tmp_path / "tests" / "test_top.py").write_text("")
    (tmp_path / "other" / "a").mkdir(parents=True)
    (tmp_path / "other" / "a" / "test_y.py").write_text("")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    modules = discover([str(tmp_path / "tests"), str(tmp_path / "other")]).modules
    by_name = {m.name: m.paths for m in modules}
    qualified = sorted(n for n in by_name if n.endswith("/a"))  # a clash: qualified by PATH
    assert qualified[0].endswith("other/a") and qualified[1].endswith("tests/a")
    assert set(by_name) - set(qualified) == {"b", "tests"}
    assert by_name["tests"] == (str(tmp_path / "tests" / "test_top.py"),)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        discover([str(tmp_path / "missing")])


def test_junit_has_a_case_per_test_and_culprit_types(tmp_path: Path) -> None:
    from testrunner._discovery import Module

    state = ModuleState(Module("m", ("tests/m",)), status="done")
    state.collected = ["tests/m/test_a.py::test_ok", "tests/m/test_a.py::test_boom", "tests/m/test_a.py::test_lost"]
    state.add_result(CaseResult("tests/m/test_a.py::test_ok", "passed"))
    state.add_result(CaseResult("tests/m/test_a.py::test_boom", "failed", text="bad \x00 byte", cause="memory"))
    state.culprits.append(Culprit("tests/m/test_a.py::test_boom", "memory", 123))
    path = tmp_path / "junit.xml"
    atomic_write(path, junit_xml([state]))
    root = ET.parse(path).getroot()
    kinds = [c.find("failure").get("type") for c in root.iter("testcase") if c.find("failure") is not None]
    assert kinds == ["culprit:memory", "not_run"]
    assert root.find("testsuite").get("tests") == "3"
    assert root.find("testsuite").get("failures") == "2"


def test_unsafe_warm_parent_falls_back_to_fresh_interpreters(project: Any) -> None:
    project.write("src/threadstarter.py", "import threading, time\n"
                  "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n")
    project.write("tests/alpha/test_alpha.py", project.ordinary("alpha"))
    env_path = str(project.root / "src")
    project.env = lambda: {**__import__("os").environ, "PYTHONPATH": env_path}
    result = project.run("--preload", "threadstarter")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.report["launcher"] == "spawn"
    assert "threads are running" in result.report["launcher_note"]
    assert json.loads(json.dumps(result.report))["totals"]["passed"] == 2
