"""Ask pytest which files it would collect, without importing a single test file.

Runs as ``python -c ... _listfiles.main()`` in the directory the runner was started from, with the same
arguments, so rootdir and ini-file discovery, ``testpaths``, ``python_files``, ``norecursedirs``,
``collect_ignore`` and every plugin's own file collectors decide exactly as in a plain ``pytest`` run. Prints one
JSON object: rootdir, inifile, the effective args, the ini ``pythonpath``, the project's ini ``timeout``
(pytest-timeout's option), whether pytest-timeout is active, and the files.

The object is printed at the end of the session, before pytest's unconfigure hooks: a conftest hanging there (or in
an atexit handler) gets EXIT_GRACE seconds, then SIGALRM ends the lister (its default action, which no Python code
can delay), and the runner takes the files already printed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import pytest

from ._options import NO_CACHE_WRITERS

EXIT_GRACE = 60  # seconds, as a worker gets after its session (the supervisor's BETWEEN_TESTS_MIN)


class FileLister:
    """Records every file pytest starts collecting, and keeps it from importing any of them.

    pytest makes a collector for every file of a directory it walks through (also beside the selected PATHs) and
    then descends only into the selected ones: a file counts when its collection starts, and its ``collect`` is
    replaced by one that finds nothing, so no test module is imported.
    """

    def __init__(self) -> None:
        self.files: list[str] = []
        self.info: dict[str, Any] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collect_file(self, file_path: Any, parent: Any) -> Any:
        outcome = yield
        for collector in outcome.get_result() or []:
            if collector is not None:
                collector.collect = _nothing

    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        if isinstance(collector, pytest.File):
            self.files.append(str(collector.path))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        cfg = session.config
        self.info = {
            "rootdir": str(cfg.rootpath),
            "inifile": str(cfg.inipath) if cfg.inipath else None,
            "args": [str(os.path.abspath(a.split("::")[0])) for a in cfg.args],
            "pythonpath": [str(p) for p in cfg.getini("pythonpath")],
            "timeout": ini_timeout(cfg),
            "timeout_plugin": cfg.pluginmanager.hasplugin("timeout"),
        }

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.info:
            print(json.dumps({**self.info, "files": list(dict.fromkeys(self.files))}), flush=True)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(EXIT_GRACE)  # the rest (unconfigure hooks, atexit) gets this long


def ini_timeout(cfg: pytest.Config) -> str | None:
    """The ini ``timeout`` as written (``-o timeout=...`` included), also when pytest-timeout, which registers that
    option, is not installed; None when it is not set."""
    try:
        raw = cfg.getini("timeout")
    except ValueError:  # not registered: pytest-timeout is not installed, read the ini file's own value
        raw = cfg.inicfg.get("timeout")
    return None if raw in (None, "", []) else str(raw).strip()


def _nothing() -> list[Any]:
    return []


def main(args_json: str | None = None) -> None:
    """``args_json`` (default ``argv[1]``): JSON list of pytest arguments; prints the result, exits 2 with
    pytest's output on failure."""
    lister = FileLister()
    args = json.loads(sys.argv[1] if args_json is None else args_json)
    code = pytest.main([*args, "-qq", *NO_CACHE_WRITERS], plugins=[lister])
    if not lister.info:
        print(json.dumps({"error": f"pytest could not start collecting (exit status {int(code)})"}))
        sys.exit(2)
