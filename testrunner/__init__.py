"""The supervised test runner behind ``run_tests.py``: no test can take the machine down.

The suite is split into *modules* (each immediate subdirectory of a test PATH, plus PATH's own test files), and
each module runs in its own worker process, forked from a warm parent that already imported pytest and the
project (or a fresh interpreter when forking is unsafe). The supervisor samples every worker's RSS every few
milliseconds and kills it above ``--mem-limit`` (an ``RLIMIT_DATA`` inside the worker backs this up), stops a
test that overruns ``--timeout`` from outside (after dumping its stack with faulthandler), and when a test kills
its worker it names the culprit (node id, cause, RSS, stack) and resumes the rest of the module in a fresh worker.

Uses only the standard library, Linux ``/proc`` and ``prctl``; never imports llmteam (it only asks the warm parent
to pre-import it by name). See TESTING.md for options, exit codes and reports.

The names below are imported on first use: the warm parent and the workers import ``testrunner._zygote`` and
``testrunner.worker`` through this package, and must not carry the supervisor's modules in every worker.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._cli import main
    from ._discovery import Module, discover
    from ._errors import LaunchError, RunnerError
    from ._sysutil import parse_size

__all__ = ["LaunchError", "Module", "RunnerError", "discover", "main", "parse_size"]
_HOME = {"LaunchError": "_errors", "RunnerError": "_errors", "Module": "_discovery", "discover": "_discovery",
         "main": "_cli", "parse_size": "_sysutil"}


def __getattr__(name: str) -> object:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
