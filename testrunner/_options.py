"""Command-line options of ``run_tests.py`` (argparse; usage errors exit with code 2)."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

from ._sysutil import available_memory, parse_size

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_TIMEOUT = 60.0  # seconds per test when neither --timeout nor the project's ini ``timeout`` sets one
# pytest's cache stays available (plugins such as pytest-xprocess keep files in it), but the plugins that record
# the last failures and the known node ids are off: sessions running at once would overwrite each other's record
NO_CACHE_WRITERS = ("-p", "no:lfplugin", "-p", "no:nfplugin")
_CACHE_SELECTORS = {"--lf", "--last-failed", "--ff", "--failed-first", "--nf", "--new-first", "--sw", "--stepwise",
                    "--sw-skip", "--stepwise-skip", "--lfnf", "--last-failed-no-failures"}


@dataclass
class Options:
    """Parsed runner options."""

    paths: list[str]
    modules: list[str] = field(default_factory=list)
    jobs: int = 1
    mem_limit: int = 2**30
    mem_budget: int = 0
    timeout: float = DEFAULT_TIMEOUT
    timeout_given: bool = False  # --timeout was given: it wins over the project's ini ``timeout``
    fast: bool = False
    coverage: bool = False
    junitxml: str | None = None
    json: str | None = None
    keyword: str | None = None
    markexpr: str | None = None
    pytest_args: list[str] = field(default_factory=list)
    no_fork: bool = False
    preload: list[str] = field(default_factory=list)
    state_dir: str = ".testrun"
    list_modules: bool = False
    maxfail: int = 0
    warm: dict[str, object] = field(default_factory=dict)


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: must be a whole number >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):  # NaN compares false with everything: it would switch timeouts off
        raise argparse.ArgumentTypeError(f"invalid seconds {text[:40]!r}: must be a finite number > 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to print ``--help``)."""
    p = argparse.ArgumentParser(
        prog="run_tests.py",
        description="Run the test suite module by module in supervised worker processes "
        "(memory cap, per-test timeout, crash isolation). Arguments after -- go to pytest.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="test directories (default: tests/)")
    p.add_argument("--module", action="append", default=[], metavar="NAME", help="run only this module (repeatable)")
    p.add_argument("--list-modules", action="store_true", help="print the discovered modules and exit")
    p.add_argument("--jobs", "-j", "--parallel", "-n", dest="jobs", type=_positive_int, default=1, metavar="N",
                   help="workers at once (default 1; --parallel and -n are aliases)")
    p.add_argument("-x", "--exitfirst", action="store_const", const=1, dest="maxfail",
                   help="stop the whole run at the first failure or error")
    p.add_argument("--maxfail", type=_positive_int, default=0, metavar="N",
                   help="stop the whole run after N failures or errors")
    p.add_argument("--mem-limit", type=_size, default=2**30, metavar="SIZE", help="hard cap per worker (default 1G)")
    p.add_argument(
        "--mem-budget", type=_size, default=None, metavar="SIZE",
        help="sum of predicted peaks of concurrent workers (default 60%% of available memory)",
    )
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="S",
                   help="per test (default: the project's ini timeout, pytest-timeout's option, else 60)")
    p.add_argument("--fast", action="store_true", help='skip tests marked slow (-m "not slow")')
    p.add_argument("--coverage", action="store_true", help="measure coverage combined over all workers")
    p.add_argument("--junitxml", metavar="FILE", help="write a JUnit XML report (updated as tests run)")
    p.add_argument("--json", metavar="FILE", help="write a JSON report (updated as tests run)")
    p.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k expression")
    p.add_argument("-m", dest="markexpr", metavar="EXPR", help="pytest -m marker expression")
    p.add_argument("--no-fork", action="store_true", help="start every worker as a fresh interpreter")
    p.add_argument(
        "--preload", action="append", default=[], metavar="MODULE",
        help="extra module the warm parent imports before forking workers (repeatable)",
    )
    p.add_argument("--state-dir", default=".testrun", metavar="DIR", help="logs, peaks.json (default .testrun)")
    return p


def parse_args(argv: list[str]) -> Options:
    """Parse ``argv``; argparse exits with status 2 on a usage error."""
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    ns = parser.parse_args(argv)
    cached = sorted({a.split("=")[0] for a in extra} & _CACHE_SELECTORS)
    if cached:
        parser.error(f"{', '.join(cached)} selects tests from pytest's record of the last run, which the runner's "
                     "sessions running at once do not keep; select with --module, -k or a PATH instead")
    budget = ns.mem_budget if ns.mem_budget is not None else int(available_memory() * 0.6)
    return Options(
        paths=ns.paths or ["tests"],
        modules=ns.module,
        jobs=ns.jobs,
        mem_limit=ns.mem_limit,
        mem_budget=budget,
        timeout=ns.timeout if ns.timeout is not None else DEFAULT_TIMEOUT,
        timeout_given=ns.timeout is not None,
        fast=ns.fast,
        coverage=ns.coverage,
        junitxml=ns.junitxml,
        json=ns.json,
        keyword=ns.keyword,
        markexpr=ns.markexpr,
        pytest_args=extra,
        no_fork=ns.no_fork,
        preload=ns.preload,
        state_dir=ns.state_dir,
        list_modules=ns.list_modules,
        maxfail=_passthrough_maxfail(extra, ns.maxfail or 0),
    )


def _passthrough_maxfail(extra: list[str], maxfail: int) -> int:
    """``-x``/``--maxfail`` given to pytest after ``--`` also stop the whole run (the smallest wins)."""
    found = [maxfail] if maxfail else []
    for i, arg in enumerate(extra):
        if arg in ("-x", "--exitfirst"):
            found.append(1)
        elif arg.startswith("--maxfail="):
            found.append(int(arg.split("=", 1)[1] or 0))
        elif arg == "--maxfail" and i + 1 < len(extra) and extra[i + 1].isdigit():
            found.append(int(extra[i + 1]))
    return min((n for n in found if n > 0), default=0)


def pytest_selection_args(opts: Options) -> list[str]:
    """The -k/-m/extra arguments every worker passes to pytest."""
    args: list[str] = []
    if opts.keyword:
        args += ["-k", opts.keyword]
    marks = opts.markexpr
    if opts.fast:
        marks = f"({marks}) and not slow" if marks else "not slow"
    if marks:
        args += ["-m", marks]
    if opts.maxfail:
        args += [f"--maxfail={opts.maxfail}"]  # the supervisor counts the total; each worker gets what is left too
    return args + list(opts.pytest_args)
