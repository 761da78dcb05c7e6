"""A test that leaks, hangs holding the GIL, segfaults, SIGKILLs itself or exits costs only itself."""

from __future__ import annotations

from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

LEAK = """
import pytest

def test_before():
    pass

@pytest.mark.timeout(300)  # its own limit: the memory cap, not the run's 1 s --timeout, must stop it under load
def test_leak_until_stopped():
    hoard = []
    while True:
        hoard.append("x" * (8 * 2**20))  # touched memory, so RSS really grows

def test_after():
    pass
"""

BIG_ALLOC = """
def test_one_huge_allocation():
    blob = "x" * (600 * 2**20)  # over the cap in one go: the worker's rlimit raises MemoryError
    assert blob

def test_after_memory_error():
    pass
"""

HANG = """
import re

def test_before():
    pass

def test_hang_holding_the_gil():
    re.match(r"(a+)+$", "a" * 64 + "b")  # catastrophic backtracking inside C, GIL held throughout

def test_after():
    pass
"""

SEGV = """
import ctypes

def test_before():
    pass

def test_segfault():
    ctypes.string_at(0)

def test_after():
    pass
"""

SELF_KILL = """
import os
import signal


def test_sigkill_self():
    os.kill(os.getpid(), signal.SIGKILL)

def test_between():
    pass

def test_exit_hard():
    os._exit(7)

def test_after():
    pass
"""


def _write_killers(project: Any) -> None:
    project.write("tests/leak/test_leak.py", LEAK + project.ordinary("leak"))
    project.write("tests/bigalloc/test_bigalloc.py", BIG_ALLOC)
    project.write("tests/hang/test_hang.py", HANG + project.ordinary("hang"))
    project.write("tests/segv/test_segv.py", SEGV + project.ordinary("segv"))
    project.write("tests/selfkill/test_selfkill.py", SELF_KILL)


EXPECTED = {
    "leak": [("tests/leak/test_leak.py::test_leak_until_stopped", "memory")],
    "bigalloc": [("tests/bigalloc/test_bigalloc.py::test_one_huge_allocation", "memory")],
    "hang": [("tests/hang/test_hang.py::test_hang_holding_the_gil", "timeout")],
    "segv": [("tests/segv/test_segv.py::test_segfault", "signal:11")],
    "selfkill": [
        ("tests/selfkill/test_selfkill.py::test_sigkill_self", "signal:9"),
        ("tests/selfkill/test_selfkill.py::test_exit_hard", "exit:7"),
    ],
}


@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_every_culprit_is_named_and_every_ordinary_test_passes(project: Any, launcher: str) -> None:
    _write_killers(project)
    args = ["--jobs", "2", "--mem-limit", "300M", "--timeout", "1"]
    expected_modules = EXPECTED
    if launcher == "spawn":  # fresh interpreters start slowly: check the crash paths only, not leak and hang again
        expected_modules = {k: v for k, v in EXPECTED.items() if k in ("segv", "selfkill", "bigalloc")}
        args += ["--no-fork", *(a for name in expected_modules for a in ("--module", name))]
    result = project.run(*args)

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.report["launcher"] == launcher
    # forking: a child of the warm parent listed the files (no second interpreter start-up); else a fresh one
    assert result.report["listed_by"] == ("warm parent" if launcher == "fork" else "fresh interpreter")
    assert result.report["exit_code"] == 1
    for name, expected in expected_modules.items():
        module = result.module(name)
        assert [(c["nodeid"], c["cause"]) for c in module["culprits"]] == expected, module
        assert module["failed"] == len(expected)
        assert module["passed"] == module["tests"] - len(expected)  # everything else ran and passed
        assert module["not_run"] == 0
        assert module["workers"] == len(expected) + 1  # resumed in a fresh worker after each culprit
        for culprit in module["culprits"]:
            assert culprit["rss_bytes"] > 0
    n_culprits = sum(len(v) for v in expected_modules.values())
    tot = result.report["totals"]
    assert (tot["failed"], tot["culprits"]) == (n_culprits, n_culprits)
    assert tot["passed"] == tot["tests"] - n_culprits
    assert result.last_line == f"tests: {tot['passed']} passed, {n_culprits} failed, 0 skipped"
    if launcher == "fork":
        leak = result.module("leak")["culprits"][0]
        assert 270 * 2**20 <= leak["worker_peak_rss_bytes"] <= 330 * 2**20  # reached the cap, held within 10 %
        hang = result.module("hang")["culprits"][0]
        assert "test_hang_holding_the_gil" in hang["stack"]  # faulthandler got through the GIL hog
        # stopped by the 1 s --timeout, not by a hang guard; the bound is loose because a busy machine can delay
        # the supervisor's own wake-ups by seconds (kill latency is a benchmark figure: bench_runner.py)
        assert 0 < hang["killed_at"] - hang["test_started_at"] < 60.0

    junit = result.junit
    assert junit is not None
    failures = [case.find("failure").get("type") for case in junit.iter("testcase") if case.find("failure") is not None]
    assert sorted(failures) == sorted(f"culprit:{c}" for v in expected_modules.values() for _, c in v)
    assert sum(1 for _ in junit.iter("testcase")) == tot["tests"]


def test_failures_skips_collection_errors_and_rss_growth_are_counted(project: Any) -> None:
    project.write(
        "tests/mixed/test_mixed.py",
        """
        import pytest

        def test_pass():
            pass

        def test_fail():
            assert 1 == 2

        @pytest.mark.skip(reason="not today")
        def test_skip():
            pass

        @pytest.mark.xfail(reason="known")
        def test_xfail():
            assert False
        """,
    )
    project.write("tests/test_top.py", project.ordinary("top", 3))
    project.write("tests/mod/test_broken.py", "import no_such_module_anywhere\n")
    project.write("tests/mod/test_fine.py", project.ordinary("fine"))
    project.write(
        "tests/grow/test_grow.py",
        """
        KEEP = []

        def test_grows():
            KEEP.append("x" * (40 * 2**20))

        def test_small():
            pass
        """,
    )
    result = project.run("--mem-limit", "300M")
    assert result.returncode == 1
    mixed = result.module("mixed")
    assert (mixed["tests"], mixed["passed"], mixed["failed"], mixed["skipped"], mixed["xfailed"]) == (4, 1, 1, 1, 1)
    assert mixed["culprits"] == []
    assert "assert 1 == 2" in mixed["failures"][0]["text"]
    assert result.module("tests")["passed"] == 3  # the files directly in tests/ form one more module

    mod = result.module("mod")  # a collection error fails only its file
    assert (mod["passed"], mod["failed"], mod["errors"]) == (2, 0, 1)  # a collection error, as pytest counts it
    assert "no_such_module_anywhere" in mod["failures"][0]["text"]

    flags = result.module("grow")["rss_growth"]
    assert [f["nodeid"] for f in flags] == ["tests/grow/test_grow.py::test_grows"]
    assert flags[0]["growth_bytes"] > 16 * 2**20
    assert result.last_line == "tests: 8 passed, 1 failed, 1 skipped, 1 errors, 1 xfailed"
