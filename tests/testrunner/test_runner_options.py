"""--module, --fast, -k/-m and pass-through pytest args, usage errors, --list-modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the runner lives beside run_tests.py

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

SLOW = """
import pytest


@pytest.mark.slow
def test_slow_one():
    pass

def test_quick():
    pass
"""


def test_module_selects_only_named_modules(project: Any) -> None:
    project.write("tests/alpha/test_alpha.py", project.ordinary("alpha"))
    project.write("tests/beta/test_beta.py", project.ordinary("beta", 3))
    project.write("tests/gamma/test_gamma.py", project.ordinary("gamma"))
    result = project.run("--module", "beta", "--module", "gamma")
    assert result.returncode == 0, result.stdout + result.stderr  # all passed: exit status 0
    assert result.report["exit_code"] == 0
    assert [m["name"] for m in result.report["modules"]] == ["beta", "gamma"]
    assert result.last_line == "tests: 5 passed, 0 failed, 0 skipped"


def test_unknown_module_is_a_usage_error_listing_known_ones(project: Any) -> None:
    project.write("tests/alpha/test_alpha.py", project.ordinary("alpha"))
    project.write("tests/beta/test_beta.py", project.ordinary("beta"))
    result = project.run("--module", "nope")
    assert result.returncode == 2
    assert "'nope'" in result.stderr
    assert "alpha, beta" in result.stderr


def test_bad_option_values_are_usage_errors(project: Any) -> None:
    project.write("tests/alpha/test_alpha.py", project.ordinary("alpha"))
    for args in (["--mem-limit", "lots"], ["--jobs", "0"], ["--timeout", "-1"], ["--no-such-flag"]):
        proc = subprocess.run(project.command(*args), cwd=project.root, capture_output=True, text=True)
        assert proc.returncode == 2, args
    # pytest's last-failed record is not kept (sessions run at once would overwrite it): refused, not ignored
    for args in (["--", "--lf"], ["--", "--sw"], ["--", "--ff", "-q"]):
        proc = subprocess.run(project.command(*args), cwd=project.root, capture_output=True, text=True)
        assert proc.returncode == 2, args
        assert args[1] in proc.stderr and "--module" in proc.stderr


def test_list_modules(project: Any) -> None:
    project.write("tests/alpha/test_alpha.py", project.ordinary("alpha"))
    project.write("tests/empty/helpers.py", "X = 1\n")  # no test files: not a module
    project.write("tests/test_top.py", project.ordinary("top"))
    proc = subprocess.run(project.command("--list-modules"), cwd=project.root, capture_output=True, text=True)
    assert proc.returncode == 0
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == ["alpha", "tests"]


def test_fast_skips_slow_tests_and_reports_empty_selection(project: Any) -> None:
    project.write("tests/mixed/test_mixed.py", SLOW)
    project.write("tests/allslow/test_allslow.py", SLOW.replace("def test_quick", "@pytest.mark.slow\ndef test_q"))
    result = project.run("--fast")
    assert result.returncode == 0, result.stdout
    assert (result.module("mixed")["tests"], result.module("mixed")["passed"]) == (1, 1)
    assert result.module("allslow")["tests"] == 0  # empty selection: reported, not failed
    assert result.last_line == "tests: 1 passed, 0 failed, 0 skipped"


def test_keyword_marker_and_passthrough_args(project: Any) -> None:
    project.write("tests/mixed/test_mixed.py", SLOW + "\ndef test_other():\n    pass\n")
    # -m and the arguments after -- reach every worker's pytest (test_slow_one is neither, test_quick not "other")
    result = project.run("-m", "not slow", "--", "-k", "other or slow_one")
    assert result.last_line == "tests: 1 passed, 0 failed, 0 skipped"
    assert result.module("mixed")["passed"] == 1


def test_selection_and_maxfail_arguments() -> None:
    from testrunner._options import parse_args, pytest_selection_args

    opts = parse_args(["-k", "quick", "-m", "slow", "--fast", "--", "--maxfail=4", "-p", "no:randomly"])
    assert pytest_selection_args(opts) == ["-k", "quick", "-m", "(slow) and not slow", "--maxfail=4",
                                           "--maxfail=4", "-p", "no:randomly"]
    assert parse_args(["--", "--maxfail", "3"]).maxfail == 3  # -x/--maxfail after -- stop the whole run too
    assert parse_args(["--maxfail", "5", "--", "-x"]).maxfail == 1  # the smallest wins
    assert parse_args(["--", "-k", "x"]).maxfail == 0


WAITS = """
import time


def test_waits_past_the_ini_timeout():
    time.sleep(30)


def test_quick_one():
    pass
"""


def _ini_timeout(project: Any, value: str) -> None:
    ini = project.root / "pyproject.toml"
    section = "[tool.pytest.ini_options]\n"
    ini.write_text(ini.read_text().replace(section, f"{section}timeout = {value}\n"))


@pytest.mark.parametrize("pytest_args", [[], ["--", "-p", "no:timeout"]], ids=["with-pytest-timeout", "without"])
def test_ini_timeout_is_the_per_test_limit_without_the_option(project: Any, pytest_args: list[str]) -> None:
    """The project's ini ``timeout`` (pytest-timeout's option) stops a test when --timeout is not given, whether
    pytest-timeout (which registers that option) is active or not; the runner's clock does the stopping."""
    _ini_timeout(project, "2")
    project.write("tests/waits/test_waits.py", WAITS)
    res = project.run(*pytest_args)
    assert res.report["options"]["timeout_s"] == 2.0, res.stdout
    mod = res.module("waits")
    assert [(c["nodeid"], c["cause"]) for c in mod["culprits"]] == [
        ("tests/waits/test_waits.py::test_waits_past_the_ini_timeout", "timeout")]
    assert mod["passed"] == 1
    assert res.returncode == 1


@pytest.mark.parametrize(("ini", "args", "expected"), [("2", ["--timeout", "5"], 5.0), ("0", [], 60.0)],
                         ids=["option-wins", "ini-zero-keeps-default"])
def test_timeout_option_wins_over_the_ini_and_zero_keeps_the_default(project: Any, ini: str, args: list[str],
                                                                      expected: float) -> None:
    _ini_timeout(project, ini)
    project.write("tests/quick/test_quick.py", project.ordinary("q"))
    res = project.run(*args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.report["options"]["timeout_s"] == expected


@pytest.mark.parametrize("pytest_args", [[], ["--", "-p", "no:timeout"]], ids=["with-pytest-timeout", "without"])
def test_ini_timeout_that_is_not_a_number_is_a_usage_error(project: Any, pytest_args: list[str]) -> None:
    """pytest-timeout rejects it itself (its message, as under plain pytest); without it the runner does."""
    _ini_timeout(project, '"soon"')
    project.write("tests/quick/test_quick.py", project.ordinary("q"))
    res = project.run(*pytest_args)
    assert res.returncode == 2
    expected = "Invalid timeout soon" if not pytest_args else "timeout = 'soon'"
    assert expected in res.stderr, res.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "NaN", "1e999"])
def test_a_timeout_that_is_not_finite_is_a_usage_error(project: Any, value: str) -> None:
    """``--timeout nan`` once switched every timeout off (no comparison with NaN is true), ``inf`` too."""
    project.write("tests/alpha/test_alpha.py", project.ordinary("alpha"))
    proc = subprocess.run(project.command("--timeout", value), cwd=project.root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"invalid seconds {value!r}" in proc.stderr and "Traceback" not in proc.stderr


ENDLESS_MARK = """
import time
import pytest


@pytest.mark.timeout(float("inf"))
def test_marked_endless():
    time.sleep(60)
"""


def test_a_timeout_marker_that_is_not_finite_leaves_the_runs_timeout(project: Any) -> None:
    """Without pytest-timeout (which itself fails on it), the runner reads the marker: an endless one is ignored."""
    project.write("tests/mark/conftest.py", 'def pytest_configure(config):\n'
                                            '    config.addinivalue_line("markers", "timeout(s): per-test limit")\n')
    project.write("tests/mark/test_mark.py", ENDLESS_MARK)
    result = project.run("--timeout", "2", "--", "-p", "no:timeout", timeout=300)
    assert [(c["nodeid"], c["cause"]) for c in result.module("mark")["culprits"]] == [
        ("tests/mark/test_mark.py::test_marked_endless", "timeout")]


@pytest.mark.parametrize(("args", "says"), [
    (["--state-dir", "/dev/null"], "--state-dir '/dev/null'"),
    (["--state-dir", "pyproject.toml/sub"], "--state-dir 'pyproject.toml/sub'"),
    (["--junitxml", "/proc/x.xml"], "--junitxml '/proc/x.xml'"),
    (["--json", "/proc/x.json"], "--json '/proc/x.json'"),
    (["--json", "tests"], "--json 'tests'"),
], ids=["state-dir-a-device", "state-dir-under-a-file", "junit-in-proc", "json-in-proc", "json-a-directory"])
def test_a_state_dir_or_report_that_cannot_be_written_is_a_usage_error(project: Any, args: list[str],
                                                                       says: str) -> None:
    """Checked before anything starts: one line naming the option and the value, exit 2, no traceback."""
    project.write("tests/alpha/test_alpha.py", project.ordinary("alpha"))
    proc = subprocess.run(project.command(*args), cwd=project.root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("run_tests.py: error: ") and says in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
