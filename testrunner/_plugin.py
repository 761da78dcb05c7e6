"""The pytest plugin inside a worker: streams collection, test start/outcome and RSS to the supervisor."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import pytest

from ._sysutil import self_rss

_MAX_TEXT = 8000
_PART = 256 * 1024  # bytes of node ids per collected event


def _text(longrepr: Any) -> str:
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, line, reason)
        return str(longrepr[2])
    text = str(longrepr)
    return text if len(text) <= _MAX_TEXT else "...\n" + text[-_MAX_TEXT:]


def categorize(reports: list[Any]) -> tuple[str, str]:
    """pytest's category of one test from its setup/call/teardown reports, and the text that explains it.

    ``failed`` (the call failed), ``error`` (setup or teardown failed), ``xfailed``, ``xpassed`` (a non-strict
    xfail that passed; a strict one is a failed call), ``skipped`` or ``passed``, as pytest's terminal counts them.
    """
    outcome, text = "passed", ""
    for rep in reports:
        if rep.failed:
            if outcome not in ("failed", "error"):
                outcome, text = ("failed" if rep.when == "call" else "error"), _text(rep.longrepr)
        elif rep.skipped and outcome == "passed":
            xfail = getattr(rep, "wasxfail", None)
            outcome, text = ("xfailed", str(xfail)) if xfail is not None else ("skipped", _text(rep.longrepr))
        elif rep.passed and rep.when == "call" and getattr(rep, "wasxfail", None) is not None and outcome == "passed":
            outcome, text = "xpassed", str(rep.wasxfail)
    return outcome, text


class EventStream:
    """Writes one JSON object per line to the supervisor's pipe (single writer, blocking, complete lines)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, **event: Any) -> None:
        data = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]


class XdistIds:
    """``worker_id`` and ``testrun_uid`` fixtures as pytest-xdist defines them, from the runner's environment.

    Registered after every other plugin, so it also wins over xdist's own (which says ``master`` outside xdist).
    """

    @pytest.fixture(scope="session")
    def worker_id(self) -> str:
        return os.environ.get("PYTEST_XDIST_WORKER", "master")

    @pytest.fixture(scope="session")
    def testrun_uid(self) -> str:
        return os.environ.get("PYTEST_XDIST_TESTRUNUID", "")


class StreamPlugin:
    """Reports to the supervisor; skips tests an earlier worker already ran; saves coverage after each test."""

    def __init__(self, stream: EventStream, done: set[str], cov: Any = None) -> None:
        self._stream = stream
        self._done = done
        self._cov = cov
        self._reports: list[Any] = []
        self._memory_error = False
        self._rss_before = 0
        self._session: Any = None

    def pytest_configure(self, config: pytest.Config) -> None:
        config.pluginmanager.register(XdistIds(), "testrunner-xdist-ids")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not self._done:
            return
        keep = [it for it in items if it.nodeid not in self._done]
        dropped = [it for it in items if it.nodeid in self._done]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._session = session

    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        if isinstance(collector, pytest.File):  # a crash from here on is blamed on this file alone
            self._stream.send(ev="collecting", path=str(collector.path))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._stream.send(ev="collect_error", nodeid=report.nodeid or "<collection>", text=_text(report.longrepr))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        timeouts = {}
        for it in session.items:  # pytest-timeout's marker, @pytest.mark.timeout(seconds), sets a test's own limit
            mark = it.get_closest_marker("timeout")
            value = mark.args[0] if mark is not None and mark.args else (mark.kwargs.get("timeout") if mark else None)
            if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:  # else: --timeout
                timeouts[it.nodeid] = float(value)
        part: list[str] = []
        size = 0
        for it in session.items:  # in parts: the supervisor takes no line over 1 MiB
            if size > _PART:
                self._stream.send(ev="collected_part", nodeids=part, timeouts={n: timeouts[n] for n in part
                                                                              if n in timeouts})
                part, size = [], 0
            part.append(it.nodeid)
            size += len(json.dumps(it.nodeid)) + 24
        self._stream.send(ev="collected", nodeids=part, timeouts={n: timeouts[n] for n in part if n in timeouts})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._reports = []
        self._memory_error = False
        self._rss_before = self_rss()
        self._stream.send(ev="start", nodeid=nodeid, rss=self._rss_before)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        outcome = yield
        if call.excinfo is not None and call.excinfo.errisinstance(MemoryError):
            self._memory_error = True
        return outcome

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._reports.append(report)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        outcome, text = categorize(self._reports)
        if self._cov is not None:
            self._cov.save()
        self._stream.send(
            ev="result", nodeid=nodeid, outcome=outcome, duration=sum(r.duration for r in self._reports),
            text=text, rss=self_rss(), rss_before=self._rss_before, memory_error=self._memory_error,
        )
        if self._memory_error and self._session is not None:
            # the heap may be fragmented near the cap: let a fresh worker run the rest of the module
            self._session.shouldstop = "MemoryError under the worker's memory cap"

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        reason = getattr(excinfo.value, "msg", None) or excinfo.exconly()
        self._stream.send(ev="interrupted", text=str(reason))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._stream.send(ev="done", exitstatus=int(exitstatus), t=time.time())
