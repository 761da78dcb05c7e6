"""Ask pytest which files it would collect, without importing a single test file.

Runs as ``python -c ... _listfiles.main()`` in the directory the runner was started from, with the same
arguments, so rootdir and ini-file discovery, ``testpaths``, ``python_files``, ``norecursedirs``,
``collect_ignore`` and every plugin's own file collectors decide exactly as in a plain ``pytest`` run. Prints one
JSON object: rootdir, inifile, the effective args, the ini ``pythonpath`` and the files.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest


class FileLister:
    """Records every file a collector was made for, and keeps pytest from importing any of them."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.info: dict[str, Any] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collect_file(self, file_path: Any, parent: Any) -> Any:
        outcome = yield
        made = [c for c in (outcome.get_result() or []) if c is not None]
        if made:
            self.files.append(str(file_path))
        outcome.force_result([])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        cfg = session.config
        self.info = {
            "rootdir": str(cfg.rootpath),
            "inifile": str(cfg.inipath) if cfg.inipath else None,
            "args": [str(os.path.abspath(a.split("::")[0])) for a in cfg.args],
            "pythonpath": [str(p) for p in cfg.getini("pythonpath")],
        }


def main() -> None:
    """``argv[1]``: JSON list of pytest arguments; prints the result, exits 2 with pytest's output on failure."""
    lister = FileLister()
    code = pytest.main([*json.loads(sys.argv[1]), "-qq", "-p", "no:cacheprovider"], plugins=[lister])
    if not lister.info:
        print(json.dumps({"error": f"pytest could not start collecting (exit status {int(code)})"}))
        sys.exit(2)
    print(json.dumps({**lister.info, "files": list(dict.fromkeys(lister.files))}))
