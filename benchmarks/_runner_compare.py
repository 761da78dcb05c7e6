"""``bench_runner.py --compare``: ``run_tests.py --jobs 2`` against ``pytest -n 2`` (pytest-xdist) and plain pytest.

Each round runs the three tools one after another on the same suite, rotating which goes first, so all see the
same machine load; the figures are medians over the rounds. Per tool: wall time, CPU time of the whole process tree
(user + system, from ``wait4``: every worker is reaped inside the tree), peak memory of the tree (sum of PSS,
sampled every 0.2 s), tests, and the tests whose outcome differs from plain pytest's *in the same round*. Plain
pytest is also compared with itself across rounds: a difference there is the suite's own nondeterminism.

Suites: the pinned werkzeug sdist (fetched once into ``~/.cache/llmteam-bench``, with its test requirements,
pytest-xdist and psutil, in its own virtualenv) and a slice of our own suite, run by an interpreter that sees this
virtualenv's packages plus pytest-xdist (a small virtualenv whose ``.pth`` adds this one's site-packages).
"""

from __future__ import annotations

import os
import site
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from _peers import CACHE

ROOT = Path(__file__).resolve().parent.parent
RUN_TESTS = str(ROOT / "run_tests.py")
MiB = 2**20
WERKZEUG = "werkzeug==3.0.6"
WERKZEUG_TEST_DEPS = ["pytest", "pytest-timeout", "pytest-xprocess<1", "cryptography", "watchdog",
                      "ephemeral-port-reserve", "pytest-xdist", "psutil"]
# the watchdog reloader tests hang plain pytest itself on this machine (a dev server that never reloads)
WERKZEUG_ARGS = ["tests", "-k", "not reloader"]
WERKZEUG_QUICK = ["tests", "--ignore=tests/test_serving.py", "--ignore=tests/test_debug.py"]
OUR_SLICE = ["tests/tenancy", "tests/context", "tests/ratelimit", "tests/security", "tests/licensing",
             "tests/execution", "tests/llm"]
TOOLS = ("plain", "xdist", "runner")


def outcomes(xml_path: Path) -> dict[str, str]:
    """Node (classname::name) -> passed/failure/error/skipped, from a JUnit file."""
    out = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        out[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return out


def differences(reference: dict[str, str], got: dict[str, str]) -> list[str]:
    """Tests whose outcome differs (missing on one side counts), as ``node: reference -> got``."""
    return [f"{k}: {reference.get(k)} -> {got.get(k)}" for k in sorted(set(reference) | set(got))
            if reference.get(k) != got.get(k)]


def measure(cmd: list[str], cwd: Path, env: dict[str, str], plain: bool = False) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds of the whole tree, its peak PSS (every process the command starts) and the PSS of
    each process at that peak, by role (``breakdown``; ``plain``: the command is one pytest process)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, peak, at_peak = psutil.Process(proc.pid), 0, ""
    while True:
        pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        total, sample = 0, []
        try:
            for p in [root, *root.children(recursive=True)]:
                try:
                    pss = p.memory_full_info().pss
                    sample.append((p, pss))
                    total += pss
                except (psutil.Error, OSError):
                    continue
        except psutil.Error:
            pass
        if total > peak:
            peak, at_peak = total, breakdown(root, sample, plain)
        time.sleep(0.2)
    proc.returncode = 0  # reaped above
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, peak, at_peak


def breakdown(root: Any, sample: list[tuple[Any, int]], plain: bool = False) -> str:
    """``role MiB`` per process (psutil processes): the runner's supervisor (``root``), its watchdog (a fork of
    it), the warm parent (the first process running ``_zygote``), workers (the other direct children of the root:
    the runner's are re-parented to the supervisor, xdist's are its controller's), and processes tests started."""
    import psutil

    def role(p: Any) -> str:
        try:
            if p.pid == root.pid:
                return "root"
            cmd = p.cmdline()
            if plain or p.ppid() != root.pid:
                return "test process"
            if cmd == root.cmdline():
                return "watchdog"
            return "zygote" if any("_zygote" in part for part in cmd) else "worker"
        except psutil.Error:
            return "gone"

    roles = [(role(p), pss) for p, pss in sample]
    zygotes = [i for i, (r, _) in enumerate(roles) if r == "zygote"]
    for i in zygotes[1:]:  # workers forked from the warm parent run its command line too
        roles[i] = ("worker", roles[i][1])
    if zygotes:
        roles[zygotes[0]] = ("warm parent", roles[zygotes[0]][1])
    return ", ".join(f"{r} {pss / MiB:.0f}" for r, pss in roles)


def werkzeug() -> tuple[str, Path]:
    """The werkzeug sdist's source tree and a virtualenv with its test requirements (cached)."""
    home = CACHE / WERKZEUG.replace("==", "-")
    py, src = home / "venv" / "bin" / "python", home / WERKZEUG.replace("==", "-")
    if not (home / "ready").exists():
        home.mkdir(parents=True, exist_ok=True)
        print(f"[werkzeug] fetching {WERKZEUG} into {home} (first run only) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        WERKZEUG, "-d", str(home)], check=True, capture_output=True)
        subprocess.run(["tar", "xzf", str(next(home.glob("werkzeug-*.tar.gz"))), "-C", str(home)], check=True)
        assert (src / "tests").is_dir(), "the sdist ships no tests"
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home / "venv")], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(src), *WERKZEUG_TEST_DEPS], check=True,
                       capture_output=True)
        (home / "ready").write_text(WERKZEUG)
    return str(py), src


def with_xdist() -> str:
    """An interpreter seeing this virtualenv's packages (llmteam and its dev extra) plus pytest-xdist."""
    try:
        import xdist  # noqa: F401

        return sys.executable
    except ImportError:
        pass
    home = CACHE / "llmteam-xdist"
    py = home / "bin" / "python"
    ours = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    marker = home / "for.txt"
    if not marker.exists() or marker.read_text() != repr(ours):
        print(f"[llmteam] virtualenv with pytest-xdist in {home} (first run only) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
        (home / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / "_llmteam_dev.pth"
         ).write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in ours))
        subprocess.run([str(py), "-m", "pip", "install", "-q", "pytest-xdist"], check=True, capture_output=True)
        marker.write_text(repr(ours))
    return str(py)


def compare_suite(label: str, py: str, cwd: Path, tests: list[str], rounds: int, baseline: str | None = None) -> None:
    """Print the medians of ``rounds`` interleaved rounds of the three tools on ``tests`` (pytest arguments), and
    of ``baseline`` (another ``run_tests.py``, e.g. of an older checkout, as the tool ``before``) when given."""
    tools = TOOLS + (("before",) if baseline else ())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "VIRTUAL_ENV")}
    paths = [t for i, t in enumerate(tests) if not t.startswith("-") and (i == 0 or tests[i - 1] != "-k")]
    extra = [t for t in tests if t not in paths]
    with tempfile.TemporaryDirectory() as tmp:
        state = str(Path(tmp) / "state")

        def cmd(tool: str, xml: Path) -> list[str]:
            if tool in ("runner", "before"):
                # --timeout: plain pytest and xdist stop no test here; the runner's default 60 s per test made a
                # culprit of werkzeug's test_long_build (~1 s idle) at load 27 on 2 cores
                script = RUN_TESTS if tool == "runner" else str(baseline)
                return [py, script, *paths, "--jobs", "2", "--timeout", "600", "--junitxml", str(xml),
                        "--state-dir", f"{state}-{tool}", "--", "-p", "no:randomly", *extra]
            xdist = ["-n", "2"] if tool == "xdist" else []
            return [py, "-m", "pytest", "-q", "-p", "no:randomly", *xdist, *tests, f"--junitxml={xml}"]

        for tool in tools[2:]:  # records durations for the schedule
            measure(cmd(tool, Path(tmp) / "warmup.xml"), cwd, env)
        figures: dict[str, list[tuple[float, float, int, str]]] = {t: [] for t in tools}
        seen: dict[str, list[dict[str, str]]] = {t: [] for t in tools}
        for r in range(rounds):
            order = tools[r % len(tools):] + tools[: r % len(tools)]
            for tool in order:
                xml = Path(tmp) / f"{tool}-{r}.xml"
                figures[tool].append(measure(cmd(tool, xml), cwd, env, plain=tool == "plain"))
                seen[tool].append(outcomes(xml) if xml.exists() else {})
                wall, cpu, peak, parts = figures[tool][-1]
                print(f"  round {r + 1} {tool:<7} {wall:7.1f}s wall {cpu:7.1f}s CPU {peak / MiB:6.0f} MiB "
                      f"(load {os.getloadavg()[0]:.1f}) peak PSS by process, MiB: {parts}", file=sys.stderr,
                      flush=True)
        for tool in tools:
            wall = statistics.median(f[0] for f in figures[tool])
            cpu = statistics.median(f[1] for f in figures[tool])
            peak = statistics.median(f[2] for f in figures[tool])
            diffs = [differences(seen["plain"][r], seen[tool][r]) for r in range(rounds)] if tool != "plain" else [
                differences(seen["plain"][0], seen["plain"][r]) for r in range(1, rounds)] or [[]]
            worst = max(diffs, key=len)
            print(f"{label:<30} {tool:<8} {wall:8.1f}s {cpu:8.1f}s {peak / MiB:9.0f} MiB "
                  f"{len(seen[tool][0]):6d} {max(len(d) for d in diffs):8d}")
            for line in worst[:10]:
                print(f"{'':<30}   differs{' (plain vs plain)' if tool == 'plain' else ''}: {line}")
        xdist_wall = statistics.median(f[0] for f in figures["xdist"])
        runner_wall = statistics.median(f[0] for f in figures["runner"])
        runner_peak = statistics.median(f[2] for f in figures["runner"])
        xdist_peak = statistics.median(f[2] for f in figures["xdist"])
        ratio = xdist_wall / runner_wall
        print(f"{label:<30} --jobs 2 vs pytest -n 2: {ratio:.2f}x faster (target >= 1.1x: "
              f"{'yes' if ratio >= 1.1 else 'NO'}); peak memory {runner_peak / max(xdist_peak, 1):.2f}x of "
              f"xdist's (target < 1: {'yes' if runner_peak < xdist_peak else 'NO'}); {rounds} rounds, medians")
        if baseline:
            before_wall = statistics.median(f[0] for f in figures["before"])
            before_peak = statistics.median(f[2] for f in figures["before"])
            print(f"{label:<30} before ({baseline}): {xdist_wall / before_wall:.2f}x faster than xdist, peak memory "
                  f"{before_peak / max(xdist_peak, 1):.2f}x of xdist's")


def compare(quick: bool, rounds: int, suites: list[str], baseline: str | None = None) -> None:
    """The comparison table for the chosen suites (``werkzeug``, ``llmteam``), with another ``run_tests.py`` as
    the tool ``before`` when ``baseline`` is given."""
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'suite':<30} {'tool':<8} {'wall':>9} {'CPU':>9} {'peak PSS':>13} {'tests':>6} {'!=plain':>8}")
    print("-" * 90)
    if "werkzeug" in suites:
        py, src = werkzeug()
        label = WERKZEUG + (" (quick)" if quick else "")
        compare_suite(label, py, src, WERKZEUG_QUICK if quick else WERKZEUG_ARGS, rounds, baseline)
    if "llmteam" in suites:
        compare_suite(f"llmteam ({len(OUR_SLICE)} modules)", with_xdist(), ROOT, OUR_SLICE, rounds, baseline)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
