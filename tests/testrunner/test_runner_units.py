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

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)



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
    only_b = discover([str(tmp_path / "tests" / "b")]).modules  # pytest walks tests/ but collects only b
    assert [(m.name, m.paths) for m in only_b] == [("deep", (str(tmp_path / "tests" / "b" / "deep" / "test_x.py"),))]
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


def test_junit_names_split_like_pytest() -> None:
    assert junit_names("tests/a/test_x.py::test_host[::1]") == ("tests.a.test_x", "test_host[::1]")
    assert junit_names("tests/a/test_x.py::TestC::test_m[x::TEXT-1]") == ("tests.a.test_x.TestC", "test_m[x::TEXT-1]")
    assert junit_names("test_top.py::test_plain") == ("test_top", "test_plain")


def test_reports_never_show_json_ahead_of_junit(tmp_path: Path, monkeypatch: Any) -> None:
    """A runner killed between the two renames leaves JUnit ahead of (never behind) the JSON totals."""
    from testrunner import _report
    from testrunner._discovery import Module

    state = ModuleState(Module("m", ("tests/m/test_a.py",)), status="running")
    json_path, xml_path = tmp_path / "r.json", tmp_path / "r.xml"
    reporter = Reporter(str(json_path), str(xml_path))
    reporter.write([state], {}, None)
    state.add_result(CaseResult("tests/m/test_a.py::test_ok", "passed"))
    real = _report.atomic_write
    calls: list[str] = []

    def killed_after_first(path: Any, data: bytes) -> None:
        calls.append(str(path))
        if len(calls) > 1:
            raise KeyboardInterrupt  # the runner dies here
        real(path, data)

    monkeypatch.setattr(_report, "atomic_write", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        reporter.write([state], {}, None)
    passed_in_json = json.loads(json_path.read_text())["totals"]["passed"]
    cases_in_junit = len(list(ET.parse(xml_path).getroot().iter("testcase")))
    assert cases_in_junit >= passed_in_json


def test_plan_runs_longest_first_and_splits_a_dominant_module(tmp_path: Path) -> None:
    from testrunner._discovery import Module
    from testrunner._schedule import plan

    files = {name: tmp_path / f"test_{name}.py" for name in ("b1", "b2", "b3", "b4", "s1", "m1")}
    for path in files.values():
        path.write_text("")
    big = ModuleState(Module("big", tuple(str(files[n]) for n in ("b1", "b2", "b3", "b4"))))
    small = ModuleState(Module("small", (str(files["s1"]),)))
    mid = ModuleState(Module("mid", (str(files["m1"]),)))
    recorded = {str(files["b1"]): 30.0, str(files["b2"]): 20.0, str(files["b3"]): 10.0, str(files["b4"]): 10.0,
                str(files["s1"]): 1.0, str(files["m1"]): 5.0}
    one = plan([small, big, mid], recorded, jobs=1)
    assert [j.state.name for j in one] == ["big", "mid", "small"]  # longest first, never split at --jobs 1
    two = plan([small, big, mid], recorded, jobs=2)
    parts = [j for j in two if j.state.name == "big"]
    assert len(parts) == 2 and sorted(f for j in parts for f in j.files) == sorted(big.module.paths)
    assert sorted(j.expected_s for j in parts) == [30.0, 40.0]  # balanced by recorded file durations
    assert [j.expected_s for j in two] == sorted((j.expected_s for j in two), reverse=True)


def test_plan_halves_again_while_it_pays_and_not_when_start_up_costs_more(tmp_path: Path) -> None:
    from testrunner._discovery import Module
    from testrunner._schedule import SESSION_KEY, load_durations, plan, save_durations

    files = [tmp_path / f"test_f{i}.py" for i in range(4)]
    for path in files:
        path.write_text("")
    one = ModuleState(Module("one", tuple(map(str, files))))
    even = {str(f): 10.0 for f in files}
    parts = plan([one], {**even, SESSION_KEY: 0.5}, jobs=2)
    assert sorted(len(j.files) for j in parts) == [2, 2]  # one module alone: two balanced halves
    other = ModuleState(Module("other", (str(tmp_path / "test_other.py"),)))
    (tmp_path / "test_other.py").write_text("")
    # 40 s of "one" and 20 s of "other" on two workers: halves of 20 s each and then quarters balance 30/30
    uneven = plan([one, other], {**even, str(tmp_path / "test_other.py"): 20.0, SESSION_KEY: 0.5}, jobs=2)
    assert sorted(len(j.files) for j in uneven if j.state is one) == [1, 1, 2]
    # a session start-up longer than what splitting saves keeps the module whole
    costly = plan([one, other], {**even, str(tmp_path / "test_other.py"): 30.0, SESSION_KEY: 30.0}, jobs=2)
    assert [len(j.files) for j in costly if j.state is one] == [4]

    one.add_result(CaseResult(f"{files[0].name}::test_x", "passed", duration=1.5))
    save_durations(tmp_path, str(tmp_path), [one], [0.2, 0.4, 3.0])
    recorded = load_durations(tmp_path)
    assert recorded[SESSION_KEY] == 0.4  # the median worker start-up
    assert recorded[str(files[0])] == 1.5


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` with the runner importable."""
    import subprocess

    root = str(Path(__file__).resolve().parents[2])
    script = f"import json, sys; sys.path.insert(0, {root!r}); {code}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_supervisor_imports_only_what_its_loop_needs() -> None:
    """Every module the supervisor imports is memory in its process (and in the watchdog forked from it) for the
    whole run: no pytest, no psutil or rich, and the stdlib modules it needs only in a rare branch (coverage,
    JUnit output, spawning the file lister) are imported there."""
    loaded = _modules_after("from testrunner import main; import testrunner._cli, testrunner._supervisor")
    heavy = {"pytest", "_pytest", "psutil", "rich", "llmteam", "asyncio", "subprocess", "xml.etree.ElementTree",
             "logging", "statistics", "tempfile", "uuid", "configparser", "typing"}
    assert loaded & heavy == set()


def test_the_warm_parent_and_workers_do_not_carry_the_supervisors_modules() -> None:
    """The warm parent imports ``testrunner._zygote`` (and each worker ``testrunner.worker``): through the package,
    but without the supervisor's parts; checking for a running event loop imports no asyncio."""
    loaded = _modules_after("import testrunner._zygote as z, testrunner.worker; assert z.fork_blocker() is None")
    assert {"testrunner._cli", "testrunner._supervisor", "testrunner._report", "testrunner._schedule",
            "testrunner._console", "asyncio"} & loaded == set()
