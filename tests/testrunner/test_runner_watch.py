"""Watching a worker's tree: cheap far below the cap, never looser than the exact figure near it.

A real process stands for the worker (and real children for what its tests start); ``Supervisor._watch`` is
called with a synthetic clock, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import builtins
import os
import select
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the runner lives beside run_tests.py

from testrunner._discovery import Module  # noqa: E402
from testrunner._schedule import Job  # noqa: E402
from testrunner._state import ModuleState  # noqa: E402
from testrunner._supervisor import Supervisor  # noqa: E402
from testrunner._sysutil import rss_of  # noqa: E402
from testrunner._workers import Worker  # noqa: E402

MiB = 2**20
pytestmark = pytest.mark.timeout(300)  # hang guard only

# the stand-in worker, driven by lines on stdin: "child N" starts a child process holding N MiB, "hold N" holds N
# MiB itself, "fork" forks a child that only sleeps (sharing every page with it); each answers "done"
PARENT = """
import os, subprocess, sys, time
kids, held = [], []
for line in sys.stdin:
    what, n = line.split()
    if what == "child":
        code = f"import sys, time; x = b'x' * ({int(n)} << 20); print('ok', flush=True); time.sleep(600)"
        kid = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        kid.stdout.readline()
        kids.append(kid)
    elif what == "hold":
        held.append(b"x" * (int(n) << 20))
    elif os.fork() == 0:
        time.sleep(600)
        os._exit(0)
    print("done", flush=True)
"""


class FakeWorkerTree:
    """A process with children on demand; everything is SIGKILLed at the end."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def ask(self, what: str, mib: int = 0) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{what} {mib}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "done"


@pytest.fixture
def tree(tmp_path: Path) -> Any:
    fake = FakeWorkerTree()
    yield fake
    subprocess.run(["pkill", "-KILL", "-P", str(fake.proc.pid)], check=False)
    fake.proc.kill()
    fake.proc.wait()


def _supervisor(tmp_path: Path, mem_limit: int) -> tuple[Supervisor, Job]:
    opts = types.SimpleNamespace(jobs=1, mem_limit=mem_limit, timeout=600.0, mem_budget=2**40, maxfail=0,
                                 no_fork=True, warm={})
    state = ModuleState(Module("m", ()))
    return Supervisor(opts, [state], [], None, None, [], tmp_path, None, str(tmp_path)), Job(state, (), 0.0)


def _worker(pid: int, job: Job) -> Worker:
    return Worker(pid=pid, fd=-1, job=job, slot=0, tmpdir="", stack_file="", launched=0.0, last_event=0.0)


def test_far_below_the_cap_the_tree_is_watched_without_walking_page_tables(tree: Any, tmp_path: Path,
                                                                            monkeypatch: Any) -> None:
    """A worker whose test started a small child, 1 GiB under the cap: each sample counts the child (by its RSS)
    but never reads smaps_rollup, which walks every page table of the process."""
    tree.ask("child", 8)
    sup, job = _supervisor(tmp_path, 2**30)
    w = _worker(tree.proc.pid, job)
    walks: list[str] = []
    real_open = builtins.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if "smaps" in str(file):
            walks.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    for i in range(40):  # four seconds of synthetic clock
        sup._watch(w, 10.0 + i * 0.1)
    monkeypatch.setattr(builtins, "open", real_open)
    assert w.kill_cause is None
    assert len(w.tree) == 1  # the child is part of the worker's tree (killed with it)
    own = rss_of(tree.proc.pid) or 0
    assert w.rss >= own + 8 * MiB  # ... and counted against the cap
    assert walks == []


def test_a_child_started_between_two_samples_is_capped_at_the_next_one(tree: Any, tmp_path: Path) -> None:
    """No interval in which a new child goes unseen: a worker without children is sampled, a test starts a child
    above the cap, the very next sample (0.1 s later on the clock) kills the tree."""
    sup, job = _supervisor(tmp_path, 120 * MiB)
    w = _worker(tree.proc.pid, job)
    sup._watch(w, 10.0)
    assert w.kill_cause is None and not w.tree
    tree.ask("child", 160)
    sup._watch(w, 10.1)
    assert w.kill_cause == "memory"
    assert tree.proc.wait(timeout=60) < 0  # SIGKILLed with its tree


def test_near_the_cap_only_what_each_child_adds_counts(tree: Any, tmp_path: Path) -> None:
    """A forked child shares the worker's 80 MiB: its RSS (the cheap bound) takes the tree over the cap, what it
    adds (its private memory) does not. The exact figure decides: the worker lives, and is killed once a child
    really adds memory."""
    tree.ask("hold", 80)
    tree.ask("fork")
    own = rss_of(tree.proc.pid) or 0
    sup, job = _supervisor(tmp_path, own + 40 * MiB)
    w = _worker(tree.proc.pid, job)
    for i in range(5):
        sup._watch(w, 10.0 + i * 0.1)
    assert w.kill_cause is None
    assert len(w.tree) == 1
    tree.ask("child", 60)
    sup._watch(w, 11.0)
    assert w.kill_cause == "memory"


HANG_AT_EXIT = """
import time


def pytest_unconfigure(config):
    time.sleep(10**6)  # after pytest's sessionfinish (the worker's 'done' event): still the runner's to stop
"""


@pytest.mark.slow
@pytest.mark.timeout(900)  # a hang guard: the listing and the worker each get 60 s to exit
def test_a_worker_hanging_after_its_session_is_stopped(project: Any) -> None:
    """A conftest that hangs in pytest_unconfigure (the run once hung there): the file listing is taken as printed
    and its process ended after 60 s; the worker, after it said 'done', is stopped BETWEEN_TESTS_MIN later, named
    exit:hang-at-exit with its stack; the tests' own outcomes stay."""
    project.write("tests/m/conftest.py", HANG_AT_EXIT)
    project.write("tests/m/test_m.py", "def test_ok():\n    pass\n")
    result = project.run("--timeout", "3", timeout=600)
    module = result.module("m")
    assert module["passed"] == 1
    assert [(c["nodeid"], c["cause"]) for c in module["culprits"]] == [
        ("tests/m/test_m.py::<outside any test>", "exit:hang-at-exit")]
    assert "pytest_unconfigure" in module["culprits"][0]["stack"]
    assert result.returncode == 1


def test_a_done_worker_gets_between_tests_min_then_its_stack_is_dumped_and_it_is_killed(tmp_path: Path) -> None:
    """The same on a synthetic clock: 'done' at 10 s; nothing at 10 + BETWEEN_TESTS_MIN, SIGUSR1 (the stack dump)
    just after, and the kill DUMP_GRACE later. A 'done' forged during a test does not stop the test's clock."""
    from testrunner._watch import BETWEEN_TESTS_MIN, DUMP_GRACE

    code = "import signal, time; signal.signal(signal.SIGUSR1, lambda *a: print('dumped', flush=True)); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # its handler is installed (else SIGUSR1 would end it, which the test would also notice)
        sup, job = _supervisor(tmp_path, 2**30)
        w = _worker(proc.pid, job)
        w.done, w.done_at, w.last_event = {"ev": "done", "exitstatus": 0}, 10.0, 10.0
        sup._watch(w, 10.0 + BETWEEN_TESTS_MIN)
        assert w.dump_deadline is None and w.kill_cause is None
        sup._watch(w, 10.1 + BETWEEN_TESTS_MIN)
        assert proc.stdout is not None and select.select([proc.stdout], [], [], 60)[0]  # a hang guard
        assert proc.stdout.readline().strip() == "dumped"
        sup._watch(w, 10.1 + BETWEEN_TESTS_MIN + DUMP_GRACE)
        assert w.kill_cause == "exit:hang-at-exit"
        assert proc.wait(timeout=60) < 0

        forged = _worker(proc.pid, job)
        forged.current, forged.current_start = "t::x", 10.0
        forged.done, forged.done_at = {"ev": "done", "exitstatus": 0}, 10.0
        sup._watch(forged, 10.0 + 600.5)  # the run's --timeout is 600 s here
        assert forged.dump_deadline is not None
    finally:
        proc.kill()
        proc.wait()


# memory in no process's private RSS: a memfd and a /dev/shm file written with write() (mapped by nobody), and a
# MAP_SHARED region two forked children touch in lock-step (each page mapped by both: private to neither)
OUTSIDE_RSS = """
import mmap, os, time

MiB = 2**20


def test_memfd():
    fd = os.memfd_create("hog")
    for _ in range(600):
        os.write(fd, b"x" * MiB)
    time.sleep(60)


def test_dev_shm():
    with open({shm!r}, "wb") as fh:
        for _ in range(600):
            fh.write(b"x" * MiB)
        fh.flush()
        time.sleep(60)


def test_shared_by_two_children():
    size, step = 320 * MiB, 4 * MiB
    region = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
    chunk = b"y" * step
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    for who in (0, 1):
        if os.fork() == 0:
            for off in range(0, size, step):  # at any moment at most one chunk is mapped by one child only
                if who == 0:
                    region[off:off + step] = chunk
                    os.write(a_w, b".")
                    os.read(b_r, 1)
                else:
                    os.read(a_r, 1)
                    region[off:off + step] = chunk
                    os.write(b_w, b".")
            time.sleep(600)
            os._exit(0)
    time.sleep(60)
"""


def test_memory_outside_any_private_rss_counts_against_the_cap(project: Any) -> None:
    shm = f"/dev/shm/testrunner-test-{os.getpid()}-{os.urandom(4).hex()}"
    project.write("tests/m/test_m.py", OUTSIDE_RSS.format(shm=shm))
    try:
        result = project.run("--mem-limit", "256M", "--timeout", "300", timeout=600)
    finally:
        if os.path.exists(shm):
            os.unlink(shm)  # a file on tmpfs outlives the process that wrote it
    culprits = {c["nodeid"].split("::")[1]: c["cause"] for c in result.module("m")["culprits"]}
    assert culprits == {"test_memfd": "memory", "test_dev_shm": "memory", "test_shared_by_two_children": "memory"}, \
        result.stdout + result.stderr
