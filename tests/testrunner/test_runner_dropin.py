"""The runner as a drop-in for pytest: pytest.exit/KeyboardInterrupt stop the run, -x/--maxfail count over the
whole run, pytest decides what is collected, its outcome categories and JUnit names are reported unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

EXITS = {
    "pytest_exit": "import pytest\n\ndef test_stop():\n    pytest.exit('enough of this')\n",
    "keyboard": "def test_stop():\n    raise KeyboardInterrupt\n",
}


@pytest.mark.parametrize("kind", sorted(EXITS))
def test_interrupt_inside_a_test_stops_the_run_with_status_2(project: Any, kind: str) -> None:
    project.write("tests/mod/test_a_first.py", project.ordinary("first"))
    project.write("tests/mod/test_b_stop.py", EXITS[kind])
    project.write("tests/mod/test_c_after.py", project.ordinary("after"))
    result = project.run(timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    mod = result.module("mod")
    assert mod["workers"] == 1  # never restarted for the test that has no result
    assert mod["passed"] == 2 and mod["status"] == "interrupted"
    assert "interrupted in tests/mod/test_b_stop.py::test_stop" in result.stdout
    if kind == "pytest_exit":
        assert "enough of this" in result.stdout
    assert result.report["exit_code"] == 2
    assert result.last_line.startswith("tests: 2 passed, 0 failed, 0 skipped")


FAILING = "".join(f"def test_fail_{i}():\n    assert False\n\n" for i in range(3))


def test_exitfirst_and_maxfail_count_over_the_whole_run(project: Any) -> None:
    project.write("tests/a/test_a.py", FAILING)
    project.write("tests/b/test_b.py", FAILING)
    first = project.run("-x")
    assert first.returncode == 1
    assert first.report["totals"]["failed"] == 1  # b never starts, a stops after its first failure
    assert first.last_line == "tests: 0 passed, 1 failed, 0 skipped"
    assert "stopping: 1 failed" in first.stdout
    passthrough = project.run("--parallel", "1", "--", "--maxfail=4")  # after --, parsed by test_runner_options
    assert passthrough.report["totals"]["failed"] == 4
    # two workers: failures the other worker reported before the stop reached it still count (as in xdist), but
    # each worker also stops itself at the limit
    racing = project.run("--jobs", "2", "--maxfail", "2")
    assert 2 <= racing.report["totals"]["failed"] <= 4
    assert "stopping: " in racing.stdout



def test_a_worker_started_after_failures_stops_at_the_failures_left(project: Any) -> None:
    """With one worker at a time, module b starts after a's 3 failures: its pytest gets --maxfail=1 (4 - 3), so it
    stops by itself at the run's limit. With the whole limit it ran on until the supervisor's kill reached it, and
    under load reported a fifth failure (the flake of the test above)."""
    project.write("tests/a/test_a.py", FAILING)
    project.write("tests/b/test_b.py", FAILING)
    result = project.run("--jobs", "1", "--maxfail", "4")
    assert result.report["totals"]["failed"] == 4

    def last_maxfail(module: str) -> str:
        args = json.loads((project.root / ".testrun" / "specs" / f"{module}.1.json").read_text())["args"]
        return [a for a in args if a.startswith("--maxfail=")][-1]

    assert last_maxfail("a") == "--maxfail=4"
    assert last_maxfail("b") == "--maxfail=1"

CACHE_USER = """
def test_{name}_uses_the_cache(request):
    request.config.cache.makedir("xprocess-{name}")  # as pytest-xprocess keeps its servers' files
    request.config.cache.set("mine/{name}", 1)
"""


def test_parallel_is_an_alias_of_jobs_and_pytests_cache_is_there(project: Any) -> None:
    (project.root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")  # the cache plugin on, as by default
    for name in ("a", "b"):
        project.write(f"tests/{name}/test_{name}.py", project.ordinary(name) + CACHE_USER.format(name=name))
    result = project.run("--parallel", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.report["options"]["jobs"] == 2
    cache = project.root / ".pytest_cache"
    assert (cache / "d" / "xprocess-a").is_dir() and (cache / "d" / "xprocess-b").is_dir()
    assert (cache / "v" / "mine" / "a").is_file() and (cache / "v" / "mine" / "b").is_file()
    # the sessions running at once would overwrite each other's record of the node ids and last failures
    assert not (cache / "v" / "cache" / "nodeids").exists()


def test_a_crash_while_importing_one_file_costs_only_that_file(project: Any) -> None:
    project.write("tests/mod/test_crash.py", "import ctypes\nctypes.string_at(0)\n\ndef test_never():\n    pass\n")
    for name in ("one", "two", "three"):
        project.write(f"tests/mod/test_{name}.py", project.ordinary(name, 3))
    result = project.run(timeout=120)
    mod = result.module("mod")
    assert result.returncode == 1
    culprits = [(c["nodeid"], c["cause"]) for c in mod["culprits"]]
    assert culprits == [("tests/mod/test_crash.py::<collection>", "signal:11")]
    assert (mod["passed"], mod["errors"], mod["not_run"]) == (9, 1, 0)
    assert result.last_line == "tests: 9 passed, 0 failed, 0 skipped, 1 errors"


CATEGORIES = '''
import pytest


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup broke")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_pass():
    pass

def test_fail():
    assert 1 == 2

def test_setup_error(broken_setup):
    pass

def test_teardown_error(broken_teardown):
    pass

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    pass

@pytest.mark.xfail(strict=True)
def test_xpass_strict():
    pass

@pytest.mark.parametrize("host", ["::1", "a::b", "x::TEXT"])
def test_ids_with_colons(host):
    assert host

class TestGroup:
    @pytest.mark.parametrize("v", ["p::q"])
    def test_method(self, v):
        assert v
'''


def _cases(root: ET.Element) -> dict[tuple[str, str], list[tuple[str, str | None]]]:
    return {
        (case.get("classname", ""), case.get("name", "")): sorted(
            (child.tag, child.get("type")) for child in case if child.tag in ("failure", "error", "skipped")
        )
        for case in root.iter("testcase")
    }


def test_categories_and_junit_names_are_pytests_own(project: Any) -> None:
    project.write("tests/cat/test_cat.py", CATEGORIES)
    result = project.run()
    mod = result.module("cat")
    assert (mod["passed"], mod["failed"], mod["errors"], mod["skipped"], mod["xfailed"], mod["xpassed"]) == (
        5, 2, 2, 1, 1, 1)  # teardown error after a pass: reported as the error, not the pass
    assert result.returncode == 1
    assert result.last_line == "tests: 5 passed, 2 failed, 1 skipped, 2 errors, 1 xfailed, 1 xpassed"

    plain = project.root / "plain.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "tests", f"--junitxml={plain}"],
                   cwd=project.root, capture_output=True, check=False, env=project.env())
    ours, theirs = _cases(result.junit), _cases(ET.parse(plain).getroot())
    assert set(ours) == set(theirs)  # classname and name split exactly where pytest splits them
    assert ("tests.cat.test_cat", "test_ids_with_colons[::1]") in ours
    assert ("tests.cat.test_cat.TestGroup", "test_method[p::q]") in ours
    for key, elements in theirs.items():
        if key[1] == "test_teardown_error":
            assert ours[key] == [("error", "error")]  # pytest adds its <error> to the passed case
            continue
        assert [tag for tag, _ in ours[key]] == [tag for tag, _ in elements], key


def _nodeids(root: ET.Element) -> set[str]:
    return {f"{c.get('classname')}::{c.get('name')}" for c in root.iter("testcase")}


def test_pytest_decides_what_is_collected_also_from_another_directory(project: Any, tmp_path_factory: Any) -> None:
    (project.root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n'
        'python_files = ["check_*.py", "tests.py"]\nnorecursedirs = ["skipme"]\ntestpaths = ["tests"]\n'
    )
    project.write("tests/alpha/check_alpha.py", project.ordinary("alpha"))
    project.write("tests/beta/tests.py", project.ordinary("beta"))
    project.write("tests/beta/skipme/check_hidden.py", "def test_hidden():\n    assert False\n")
    project.write("tests/gamma/check_gamma.py", project.ordinary("gamma"))
    project.write("tests/gamma/check_ignored.py", "def test_ignored():\n    assert False\n")
    project.write("tests/gamma/conftest.py", 'collect_ignore = ["check_ignored.py"]\n')
    project.write("tests/test_default_pattern.py", "def test_not_collected():\n    assert False\n")

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    xml_path = elsewhere / "junit.xml"
    proc = subprocess.run(project.command(str(project.root / "tests"), "--junitxml", str(xml_path)),
                          cwd=elsewhere, capture_output=True, text=True, timeout=120, env=project.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1] == "tests: 6 passed, 0 failed, 0 skipped"

    plain = elsewhere / "plain.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", str(project.root / "tests"), f"--junitxml={plain}"],
                   cwd=elsewhere, capture_output=True, check=False, env=project.env())
    assert _nodeids(ET.parse(xml_path).getroot()) == _nodeids(ET.parse(plain).getroot())
    listed = subprocess.run(project.command("--list-modules"), cwd=project.root, capture_output=True, text=True)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["alpha", "beta", "gamma"]


OWN_TIMEOUT = """
import time
import pytest

@pytest.mark.timeout(120)
def test_allowed_longer():
    time.sleep(2)

def test_default_limit():
    time.sleep(30)
"""


def test_a_tests_own_timeout_marker_sets_its_limit(project: Any) -> None:
    project.write("tests/slow/test_slow.py", OWN_TIMEOUT)
    result = project.run("--timeout", "1")
    slow = result.module("slow")
    assert [(c["nodeid"], c["cause"]) for c in slow["culprits"]] == [("tests/slow/test_slow.py::test_default_limit",
                                                                       "timeout")]
    assert slow["passed"] == 1
