"""``run_tests.py`` main: discover modules (pytest lists the files), run them supervised, report, exit 0/1/2."""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from ._console import Console
from ._discovery import Discovery, DiscoveryError, Module, discover
from ._errors import LaunchError
from ._launch import SpawnLauncher, ZygoteLauncher, open_launcher
from ._options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    NO_CACHE_WRITERS,
    Options,
    parse_args,
    pytest_selection_args,
)
from ._paths import STATE_DIRS, check_report, check_state_dir, fresh_dirs, read_state_file
from ._report import Reporter, atomic_write
from ._schedule import load_durations, plan, save_durations
from ._state import ModuleState, totals
from ._supervisor import Supervisor
from ._sysutil import self_rss

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PEAKS_FILE = "peaks.json"


def _usage(msg: str) -> int:
    print(f"run_tests.py: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _select(opts: Options, launcher: Any = None) -> tuple[Discovery, list[Module]] | str:
    try:
        found = discover(opts.paths, opts.pytest_args, launcher=launcher)
    except (FileNotFoundError, DiscoveryError) as exc:
        return str(exc)
    if not opts.modules:
        return found, found.modules
    known = {m.name: m for m in found.modules}
    unknown = [n for n in opts.modules if n not in known]
    if unknown:
        return f"unknown module(s) {', '.join(map(repr, unknown))}; known modules: {', '.join(known) or '(none)'}"
    return found, [known[n] for n in dict.fromkeys(opts.modules)]


def _open(opts: Options) -> tuple[Any, tuple[Discovery, list[Module]] | str]:
    """Start the warm parent, then let a child forked from it list the test files (it inherits pytest, plugins
    and the project already imported: no second interpreter start-up before the first test). Falls back to a
    fresh interpreter for the listing, and to spawned workers, when the warm parent cannot fork."""
    if opts.list_modules:
        return None, _select(opts)
    cwd_src = Path.cwd() / "src"  # usually the project's own packages: the listing then finds them imported
    launcher = open_launcher(opts.no_fork, {"preload": [*opts.preload, *(["coverage"] if opts.coverage else [])],
                                            "project": [] if opts.coverage else _packages([cwd_src])})
    if not isinstance(launcher, ZygoteLauncher):
        return launcher, _select(opts)
    try:
        selected = _select(opts, launcher)
    except LaunchError as exc:
        launcher.close()
        return SpawnLauncher(f"warm parent failed: {exc}"), _select(opts)
    if isinstance(selected, str):
        return launcher, selected
    opts.warm = _warm_config(opts, selected[0])
    try:
        reason = launcher.warm(opts.warm)
    except LaunchError as exc:
        reason = str(exc)
    if reason is not None:  # e.g. a module it imported is shadowed: the listing may have seen the wrong copy too
        launcher.close()
        return SpawnLauncher(reason), _select(opts)
    return launcher, selected


def _load_peaks(path: Path) -> dict[str, int]:

    try:
        data = json.loads(read_state_file(path) or "{}")
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def _predict(modules: list[Module], peaks: dict[str, int], mem_limit: int) -> list[ModuleState]:
    """Predicted peak per module: its last measured peak, else the largest known one, else the cap."""
    default = max(peaks.values()) if peaks else mem_limit
    return [ModuleState(m, predicted_bytes=min(peaks.get(m.name, default), mem_limit)) for m in modules]


def _base_args(opts: Options, found: Discovery) -> list[str]:
    # plugins pre-imported by the warm parent cannot be assertion-rewritten; harmless, so not worth a warning
    args = ["-q", "--continue-on-collection-errors", *NO_CACHE_WRITERS, f"--rootdir={found.rootdir}",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if found.inifile:
        args += ["-c", found.inifile]  # the same configuration as plain pytest, from any working directory
    if found.timeout_plugin:  # pytest-timeout is active: the runner's external per-test timeout is the authority
        args += ["-o", "timeout=0"]
    return args + pytest_selection_args(opts)


def _packages(homes: list[Path]) -> list[list[str]]:
    """[name, home] of every package directly in each of ``homes``."""
    return [[pkg.name, str(home)] for home in homes if home.is_dir()
            for pkg in sorted(home.iterdir()) if (pkg / "__init__.py").is_file()]


def _warm_config(opts: Options, found: Discovery) -> dict[str, Any]:
    """What the warm parent may import: the project's own packages (src/ and ini pythonpath) unless measuring
    coverage, and where the tests import from (to detect a module the warm parent would shadow)."""
    root = Path(found.rootdir)
    homes = [root / "src", *(Path(p) for p in found.pythonpath)]
    project = [] if opts.coverage else _packages(homes)
    test_dirs = {str(Path(f).resolve().parent) for m in found.modules for f in m.paths}
    return {"preload": opts.preload, "project": project,
            "shadow_dirs": sorted({str(root), *map(str, homes), *test_dirs})}


def _apply_ini_timeout(opts: Options, found: Discovery) -> str | None:
    """Without ``--timeout``, take the project's ini ``timeout`` (pytest-timeout's per-test seconds) when it is above
    0; ``0`` (pytest-timeout's "no timeout") keeps the runner's default, since no test may run forever. Returns a
    usage error for a value that is not a number."""
    if opts.timeout_given or found.ini_timeout is None:
        return None
    try:
        seconds = float(found.ini_timeout)
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and seconds >= 0):
        return (f"the ini option timeout = {found.ini_timeout!r} in {found.inifile} is not a number of seconds; "
                "fix it or pass --timeout S")
    if seconds > 0:
        opts.timeout = seconds
    return None


def _check_paths(opts: Options) -> str | None:
    """Why the state directory or a report cannot be written (before anything starts), or None."""

    reports = [("--json", opts.json), ("--junitxml", opts.junitxml)]
    return check_state_dir(opts.state_dir) or next(
        (bad for option, path in reports if path and (bad := check_report(option, path))), None)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """The first SIGINT/SIGTERM stops the run; later ones are ignored, so nothing interrupts the cleanup (the guard
    passes a signal on that a terminal may also have sent to this process)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the suite; returns the exit code (0 all passed, 1 any failure or culprit, 2 usage error or
    interrupted)."""
    try:
        opts = parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    bad_path = None if opts.list_modules else _check_paths(opts)
    if bad_path is not None:
        return _usage(bad_path)
    launcher, selected = _open(opts)
    if isinstance(selected, str):
        if launcher is not None:
            launcher.close()
        return _usage(selected)
    found, modules = selected
    bad_timeout = _apply_ini_timeout(opts, found)
    if bad_timeout is not None:
        if launcher is not None:
            launcher.close()
        return _usage(bad_timeout)
    if opts.list_modules:
        for m in modules:
            print(f"{m.name}\t{' '.join(m.paths)}")
        return EXIT_OK
    state_dir = Path(opts.state_dir)
    bad_dir = fresh_dirs(state_dir, STATE_DIRS if opts.coverage else STATE_DIRS[:3])
    if bad_dir is not None:
        if launcher is not None:
            launcher.close()
        return _usage(bad_dir)
    coverage = None
    if opts.coverage:
        from ._coverage import coverage_config

        cov_dir = state_dir / "coverage"
        coverage = {"data_file": str((cov_dir / ".coverage").resolve()), "config_file": coverage_config(found.rootdir),
                    "rootdir": found.rootdir}
    if not opts.warm:
        opts.warm = _warm_config(opts, found)
    peaks_path = state_dir / PEAKS_FILE
    states = _predict(modules, _load_peaks(peaks_path), opts.mem_limit)
    jobs = plan(states, load_durations(state_dir), opts.jobs)
    console = Console()
    reporter = Reporter(opts.json, opts.junitxml)
    sup = Supervisor(opts, states, jobs, console, reporter, _base_args(opts, found), state_dir, coverage,
                     found.rootdir)
    sup.launcher = launcher
    sup.meta.update(
        options={"jobs": opts.jobs, "mem_limit_bytes": opts.mem_limit, "mem_budget_bytes": opts.mem_budget,
                 "timeout_s": opts.timeout, "fast": opts.fast, "coverage": opts.coverage, "maxfail": opts.maxfail},
        started_at=time.time(), supervisor_pid=os.getpid(), rootdir=found.rootdir, inifile=found.inifile,
        listed_by=found.listed_by,
    )
    reporter.write(states, sup.meta, None)
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sup.run()
    except KeyboardInterrupt:
        sup.stop_reason, sup.interrupted = "interrupted (Ctrl-C or SIGTERM): workers stopped", True
        for st in states:
            if st.status != "done":
                st.status = "interrupted"
        console.line(sup.stop_reason)
    finally:
        for s, handler in old.items():
            if signal.getsignal(s) is _on_signal:  # after a signal: ignored until the end
                signal.signal(s, handler)
    sup.meta.update(finished_at=time.time(), supervisor_rss_bytes=self_rss(), interrupted=sup.interrupted,
                    stopped=sup.stop_reason,
                    supervisor_peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                    supervisor_cpu_s=round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 3))
    _save_peaks(peaks_path, states)
    save_durations(state_dir, found.rootdir, states, sup.session_s)
    console.details(states)
    if coverage is not None and not sup.interrupted:
        from ._coverage import combine_coverage

        sup.meta["coverage"] = combine_coverage(coverage, console)
    tot = totals(states)
    code = EXIT_FAILED if tot["failed"] or tot["errors"] else EXIT_OK
    if sup.interrupted:
        code = EXIT_USAGE
        console.line(f"run stopped: {sup.stop_reason}")
    if tot["tests"] == 0:
        console.line("no tests selected")
    reporter.write(states, sup.meta, code)
    console.summary(states)
    return code


def _save_peaks(path: Path, states: list[ModuleState]) -> None:
    peaks = _load_peaks(path)
    peaks.update({st.name: st.peak_rss for st in states if st.peak_rss > 0 and st.status == "done"})
    atomic_write(path, json.dumps(peaks, indent=1, sort_keys=True).encode())



