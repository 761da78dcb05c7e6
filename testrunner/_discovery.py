"""Find test modules: pytest itself lists the files it would collect; the runner groups them into modules.

A module is each immediate subdirectory of a test base (a PATH, or pytest's ``testpaths``) holding collected
files, plus the base's own files. Nothing is decided by file-name patterns here: ``python_files``,
``norecursedirs``, ``collect_ignore`` and rootdir/ini discovery are pytest's (see ``_listfiles``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass, field

from ._errors import RunnerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_BOOT = ("import sys; sys.path.insert(0, {root!r}); from testrunner import _listfiles; del sys.path[0]; "
         "_listfiles.main()")
RUNNER_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


@dataclass(frozen=True)
class Module:
    """One unit of isolation: the files given to one pytest worker (or split over several)."""

    name: str
    paths: tuple[str, ...]


@dataclass
class Discovery:
    """What pytest found: its rootdir and ini file, and the modules of collected files."""

    rootdir: str
    inifile: str | None
    modules: list[Module]
    pythonpath: list[str] = field(default_factory=list)
    ini_timeout: str | None = None  # the ini ``timeout`` (pytest-timeout's per-test seconds) as written
    timeout_plugin: bool = False  # pytest-timeout is active in the project's sessions
    listed_by: str = "fresh interpreter"  # or "warm parent": a child forked from it listed the files


class DiscoveryError(RunnerError):
    """pytest could not list the files (bad path, broken conftest, bad ini): its own message explains."""


def group(bases: list[str], files: list[str]) -> list[Module]:
    """Modules of ``files`` under ``bases`` (absolute), in a stable order; names unique (qualified on a clash)."""
    found: dict[tuple[str, str], list[str]] = {}
    ordered = sorted({os.path.abspath(b) for b in bases}, key=len, reverse=True)
    for file in files:
        path = os.path.abspath(file)
        base = next((b for b in ordered if path == b or path.startswith(b.rstrip("/") + "/")), os.path.dirname(path))
        rel = os.path.relpath(path, base)
        head = rel.split(os.sep)[0]
        key = (base, head) if os.sep in rel else (base, "")
        found.setdefault(key, []).append(_display(path))
    entries = []
    for (base, head), paths in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1] == "", kv[0][1])):
        short = head or (os.path.basename(base) or base)
        qualified = f"{_display(base)}/{head}" if head else f"{_display(base)}/*"
        entries.append((short, qualified, tuple(sorted(paths))))
    counts: dict[str, int] = {}
    for short, _, _ in entries:
        counts[short] = counts.get(short, 0) + 1
    return [Module(short if counts[short] == 1 else qualified, paths) for short, qualified, paths in entries]


def _display(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def discover(paths: list[str], pytest_args: list[str] | None = None, timeout: float = 300.0,
             launcher: Any = None) -> Discovery:
    """Ask pytest, from this directory, which files it would collect for ``paths``: in a child forked from the warm
    parent ``launcher`` when given (a ``ZygoteLauncher``), else in a fresh interpreter."""
    for raw in paths:
        if not os.path.exists(raw):
            raise FileNotFoundError(f"test path {raw!r} does not exist; pass a directory such as tests/")
    args_json = json.dumps([*paths, *(pytest_args or [])])
    if launcher is not None:
        code, output = launcher.discover(args_json, timeout)
    else:
        import subprocess

        argv = [sys.executable, "-c", _BOOT.format(root=RUNNER_ROOT), args_json]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DiscoveryError(f"pytest did not list the test files within {timeout:.0f} s (a conftest or "
                                 "plugin hangs while collecting?)") from None
        code, output = proc.returncode, "\n".join(x for x in (proc.stdout.strip(), proc.stderr.strip()) if x)
    info = _result(output)
    if "files" not in info or code not in (0, -signal.SIGALRM):  # SIGALRM: its exit hung after the listing
        raise DiscoveryError(f"pytest could not collect the test files:\n{output.strip()[-4000:]}")
    bases = list(info["args"])
    cwd = os.getcwd()
    if cwd in bases and os.path.isdir("tests"):
        bases.append(os.path.abspath("tests"))  # no PATH and no testpaths: tests/ is the usual base
    return Discovery(info["rootdir"], info["inifile"], group(bases, info["files"]), info["pythonpath"],
                     info.get("timeout"), bool(info.get("timeout_plugin")),
                     "warm parent" if launcher is not None else "fresh interpreter")


def _result(output: str) -> dict[str, Any]:
    """The lister's JSON line: the last line of its output that is a JSON object (pytest may print around it)."""
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if isinstance(info, dict):
                return info
    return {}
