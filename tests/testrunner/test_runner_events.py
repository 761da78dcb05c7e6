"""The worker's event pipe is not trusted: a test that finds it (a forked child shares it) and writes to it crashes
only its own worker, and a flood of lines does not keep the supervisor from its clocks."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the runner lives beside run_tests.py

from testrunner import _supervisor  # noqa: E402
from testrunner._discovery import Module  # noqa: E402
from testrunner._events import MAX_LINE, READ_PER_PASS, split_lines  # noqa: E402
from testrunner._schedule import Job  # noqa: E402
from testrunner._state import ModuleState  # noqa: E402
from testrunner._workers import Worker  # noqa: E402

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

PIPE = """
import os, stat, time


def pipe():
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        flags = int(open(f"/proc/self/fdinfo/{fd}").read().split("flags:")[1].split()[0], 8)
        if stat.S_ISFIFO(st.st_mode) and flags & 3 == os.O_WRONLY:
            return fd
    raise AssertionError("no event pipe")
"""

FIND_PIPE = PIPE + """

def test_writes():
    fd = pipe()
    {body}


def test_after():
    pass
"""

BAD_LINES = {
    "not json": "os.write(fd, b'not json\\n')",
    "not an object": "os.write(fd, b'[1, 2]\\n')",
    "missing field": "os.write(fd, b'{\"ev\": \"start\"}\\n')",
    "wrong type": "os.write(fd, b'{\"ev\": \"result\", \"nodeid\": 5}\\n')",
    "unknown kind": "os.write(fd, b'{\"ev\": \"surprise\"}\\n')",
    "endless timeout": "os.write(fd, b'{\"ev\": \"collected\", \"nodeids\": [], \"timeouts\": {\"x\": 1e999}}\\n')",
    "over 1 MiB": "os.write(fd, b' ' * (2 * 2**20)); time.sleep(60)",
    "collection again": "os.write(fd, b'{\"ev\": \"collected\", \"nodeids\": [\"x\"], \"timeouts\": {}}\\n')",
}


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_a_line_that_is_no_event_crashes_only_its_worker(project: Any, kind: str) -> None:
    project.write("tests/m/test_m.py", FIND_PIPE.replace("{body}", BAD_LINES[kind]))
    result = project.run("--timeout", "300", timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.report["status"] == "finished"
    module = result.module("m")
    assert [(c["nodeid"], c["cause"]) for c in module["culprits"]] == [("tests/m/test_m.py::test_writes", "bad-event")]
    assert module["passed"] == 1  # the rest of the module resumed in a fresh worker
    assert "event pipe" in module["failures"][0]["text"]


class _Endless:
    """``os`` for the supervisor, whose ``read`` never runs dry (a test flooding the pipe faster than it is read)."""

    def __init__(self) -> None:
        self.taken = 0

    def read(self, fd: int, n: int) -> bytes:
        if self.taken > 64 * 2**20:
            raise RuntimeError("the supervisor read 64 MiB of one worker's events without looking at its clocks")
        data = b'{"ev": "hello", "pid": 1}\n' * (n // 26)
        self.taken += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def test_one_pass_reads_a_bounded_amount_of_a_flood(tmp_path: Path, monkeypatch: Any) -> None:
    opts = types.SimpleNamespace(jobs=1, mem_limit=2**30, timeout=5.0, mem_budget=2**40, maxfail=0)
    state = ModuleState(Module("m", ()))
    sup = _supervisor.Supervisor(opts, [state], [], None, types.SimpleNamespace(touch=lambda: None), [], tmp_path,
                                 None, str(tmp_path))
    w = Worker(pid=-1, fd=-1, job=Job(state, (), 0.0), slot=0, tmpdir="", stack_file="", launched=0.0)
    endless = _Endless()
    monkeypatch.setattr(_supervisor, "os", endless)
    sup._read(w)  # returns, so the loop goes on to the clocks (a timeout) and memory samples
    assert READ_PER_PASS <= endless.taken < READ_PER_PASS + 2**16
    assert w.kill_cause is None and not w.eof


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), max_size=30), st.data())
def test_lines_come_out_whole_however_the_stream_is_cut(lines: list[bytes], data: Any) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    buf, out = bytearray(), []
    for start, end in zip([0, *cuts], [*cuts, len(stream)]):
        out += split_lines(buf, stream[start:end])
    assert out == lines and not buf


def test_a_line_over_the_limit_is_refused_before_it_ends() -> None:
    buf = bytearray()
    split_lines(buf, b" " * MAX_LINE)
    with pytest.raises(Exception, match="over"):
        split_lines(buf, b" ")


MANY = """
import pytest


@pytest.mark.parametrize("i", [f"{n:06d}-" + "x" * 200 for n in range(6000)])
def test_many(i):
    pass
"""


def test_a_module_collecting_over_a_mib_of_node_ids_runs(project: Any) -> None:
    """The plugin sends the collected node ids in parts, each line well under the supervisor's 1 MiB."""
    project.write("tests/many/test_many.py", MANY)
    result = project.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.module("many")["passed"] == 6000


def test_forged_events_do_not_keep_a_worker_alive_past_its_session_budget(tmp_path: Path) -> None:
    """A test that writes 'start' for itself again and again restarts its own clock; the session's budget (every
    collected test's timeout, GAP_PER_TEST each, teardown and exit) is set once, at collection, and stops it."""
    import signal
    import subprocess

    from testrunner._watch import session_budget

    code = "import signal, time; signal.signal(signal.SIGUSR1, lambda *a: None); print('ready', flush=True); " \
           "time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        opts = types.SimpleNamespace(jobs=1, mem_limit=2**30, timeout=5.0, mem_budget=2**40, maxfail=0)
        state = ModuleState(Module("m", ()))
        sup = _supervisor.Supervisor(opts, [state], [], None, types.SimpleNamespace(touch=lambda: None), [],
                                     tmp_path, None, str(tmp_path))
        w = Worker(pid=proc.pid, fd=-1, job=Job(state, (), 0.0), slot=0, tmpdir="", stack_file="", launched=0.0)
        sup._event(w, {"ev": "collected", "nodeids": ["t::a", "t::b"], "timeouts": {"t::b": 7.0}})
        budget = session_budget(2, 12.0, 5.0)
        assert w.deadline == w.last_event + budget
        start = w.last_event
        for now in range(int(budget)):  # the forged 'start' every second: the test's own clock never runs out
            sup._event(w, {"ev": "start", "nodeid": "t::a", "rss": 0})
            w.current_start = start + now
            sup._watch(w, start + now + 0.5)
            assert w.dump_deadline is None
        sup._watch(w, start + budget + 0.5)
        assert w.dump_deadline is not None  # SIGUSR1 sent: the stack is dumped
        sup._watch(w, start + budget + 1.0)
        assert w.kill_cause == "timeout"
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()
