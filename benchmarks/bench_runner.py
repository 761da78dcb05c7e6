"""Benchmark the supervised runner against the issue's targets; prints: figure, measured, target, ok?

    python benchmarks/bench_runner.py            # everything (several minutes)
    python benchmarks/bench_runner.py --quick    # synthetic figures only, skip the project-suite timings
    python benchmarks/bench_runner.py --compare  # only: --jobs 2 vs pytest -n 2 (pytest-xdist) vs plain pytest
                                                 # on a pinned werkzeug sdist and on a slice of our suite,
                                                 # interleaved rounds, medians (--rounds N, --suite NAME,
                                                 # --baseline-runner OLD/run_tests.py to time an older runner too)

See ``_runner_compare.py`` for how the comparison measures (wall, CPU and peak PSS of the whole process tree,
per-test outcomes against plain pytest's in the same round, plain pytest against itself).

Project-suite timings exclude tests/testrunner (it runs nested runners and would dominate both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_TESTS = str(ROOT / "run_tests.py")
PYPROJECT = '[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n'
MiB = 2**20

TIMING_CONFTEST = """
import json, time
STARTS = []

def pytest_runtest_logstart(nodeid, location):
    STARTS.append(time.perf_counter())

def pytest_sessionfinish(session):
    gaps = [b - a for a, b in zip(STARTS, STARTS[1:])]
    with open("gaps.json", "a") as fh:
        fh.write(json.dumps(gaps) + "\\n")
"""

LEAK_PRIVATE = """
import os, time
def test_leak():
    hoard, fd = [], os.open("trace.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    while True:
        hoard.append("x" * (4 * 2**20))
        rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        os.write(fd, f"{time.time()} {rss}\\n".encode())
"""

# shared anonymous memory is not counted by RLIMIT_DATA: this isolates the supervisor's RSS sampling and kill
LEAK_SHARED = """
import mmap, os, time
def test_leak():
    hoard, fd = [], os.open("trace.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    while True:
        m = mmap.mmap(-1, 4 * 2**20)
        m.write(b"x" * (4 * 2**20))
        hoard.append(m)
        rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        os.write(fd, f"{time.time()} {rss}\\n".encode())
"""

# each test keeps a child holding 300 MiB for a second: the supervisor watches that child's memory all along
CHILD_300M = "import subprocess, sys\n" + "".join(
    f"def test_child_{i}():\n    subprocess.run([sys.executable, '-c', "
    f"'import time; x = bytes(300 << 20) + bytes(1); time.sleep(1.0)'], check=True)\n" for i in range(8))
HANG = "import re\ndef test_hang():\n    re.match(r'(a+)+$', 'a' * 64 + 'b')\n"
EXITS = "".join(f"import os\ndef test_exit_{i}():\n    os._exit(1)\n" for i in range(10))


def project(files: dict[str, str]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench_runner_"))
    (root / "pyproject.toml").write_text(PYPROJECT)
    for rel, src in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(src))
    return root


def runner(cwd: Path, *args: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, RUN_TESTS, "--json", str(report), *args], cwd=cwd, capture_output=True)
        return time.perf_counter() - t0, json.loads(report.read_text())


def plain(cwd: Path, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args], cwd=cwd, capture_output=True)
    return time.perf_counter() - t0


def row(figure: str, measured: str, target: str, ok: bool | None) -> None:
    mark = "-" if ok is None else ("yes" if ok else "NO")
    print(f"{figure:<52} {measured:>14}  {target:<22} {mark}")


def project_suite() -> None:
    listed = subprocess.run([sys.executable, RUN_TESTS, "--list-modules"], cwd=ROOT, capture_output=True, text=True)
    modules = [ln.split("\t")[0] for ln in listed.stdout.splitlines() if not ln.startswith("testrunner\t")]
    mod_args = [a for m in modules for a in ("--module", m)]
    plain_s = min(plain(ROOT, "tests", "--ignore=tests/testrunner") for _ in range(2))
    j2 = min(runner(ROOT, "--jobs", "2", *mod_args)[0] for _ in range(2))
    j1 = min(runner(ROOT, "--jobs", "1", *mod_args)[0] for _ in range(2))
    row("project suite: plain pytest, one process", f"{plain_s:.2f}s", "(reference)", None)
    row("project suite: runner --jobs 2 / plain", f"{j2 / plain_s:.2f}x", "<= 1.0x", j2 <= plain_s)
    row("project suite: runner --jobs 1 / plain", f"{j1 / plain_s:.2f}x", "<= 1.3x", j1 <= 1.3 * plain_s)


def per_test_overhead() -> None:
    body = "".join(f"def test_t{i}():\n    pass\n" for i in range(1500))
    root = project({"tests/conftest.py": TIMING_CONFTEST, "tests/many/test_many.py": body})
    plain(root, "tests/many")
    runner(root, "--jobs", "1")
    sessions = [json.loads(ln) for ln in (root / "gaps.json").read_text().splitlines()]
    plain_gaps, runner_gaps = [g for g in sessions if g]  # the runner's listing of the files runs no test
    overhead = statistics.median(runner_gaps) - statistics.median(plain_gaps)
    row("median overhead per test", f"{overhead * 1e3:.3f} ms", "<= 1 ms", overhead <= 1e-3)


def replacement() -> None:
    _, rep = runner(project({"tests/exits/test_exits.py": EXITS}))
    lat = rep["modules"][0]["replace_latency_s"]
    row("worker replacement latency (median of 10)", f"{statistics.median(lat) * 1e3:.1f} ms", "<= 50 ms",
        statistics.median(lat) <= 0.05)
    row("worker replacement latency (max of 10)", f"{max(lat) * 1e3:.1f} ms", "<= 50 ms", max(lat) <= 0.05)
    row("supervisor peak RSS", f"{rep['supervisor_peak_rss_bytes'] / MiB:.1f} MiB", "< 25 MiB",
        rep["supervisor_peak_rss_bytes"] < 25 * MiB)


def memory_cap(label: str, source: str) -> None:
    limit = 400 * MiB
    root = project({"tests/leak/test_leak.py": source})
    _, rep = runner(root, "--mem-limit", "400M")
    culprit = rep["modules"][0]["culprits"][0]
    peak = culprit["worker_peak_rss_bytes"]
    row(f"memory cap overshoot ({label})", f"{(peak / limit - 1) * 100:+.1f} %", "<= +10 %", peak <= 1.1 * limit)
    trace = [ln.split() for ln in (root / "trace.txt").read_text().splitlines()]
    crossed = next((float(t) for t, rss in trace if int(rss) > limit), None)
    if crossed is not None:
        latency = culprit["killed_at"] - crossed
        row(f"kill latency after crossing ({label})", f"{latency * 1e3:.1f} ms", "<= 100 ms", latency <= 0.1)
    elif "MemoryError" in rep["modules"][0]["failures"][0]["text"]:
        row(f"kill latency after crossing ({label})", "0 ms (rlimit)", "<= 100 ms", True)
    else:  # killed within the very allocation step that crossed the cap, before it could be logged
        step = float(trace[-1][0]) - float(trace[-2][0])
        row(f"kill latency after crossing ({label})", f"< {step * 1e3:.1f} ms", "<= 100 ms", step <= 0.1)


def hang() -> None:
    _, rep = runner(project({"tests/hang/test_hang.py": HANG}), "--timeout", "2")
    culprit = rep["modules"][0]["culprits"][0]
    stop = culprit["killed_at"] - culprit["test_started_at"]
    row("hang stopped after (timeout 2 s)", f"{stop:.2f} s", "<= 3.00 s (timeout+1)", stop <= 3.0)


def supervisor_cpu() -> None:
    _, rep = runner(project({"tests/kids/test_kids.py": CHILD_300M}))
    share = rep["supervisor_cpu_s"] / (rep["finished_at"] - rep["started_at"])
    row("supervisor CPU, tests with a 300 MiB child", f"{share * 100:.1f} % core", "(lower is better)", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the project-suite timings")
    parser.add_argument("--compare", action="store_true", help="only the comparison with pytest-xdist")
    parser.add_argument("--rounds", type=int, default=3, help="--compare: interleaved rounds (medians)")
    parser.add_argument("--suite", action="append", choices=["werkzeug", "llmteam"],
                        help="--compare: only this suite (repeatable; default both)")
    parser.add_argument("--baseline-runner", metavar="RUN_TESTS_PY",
                        help="--compare: also time this run_tests.py (e.g. an older checkout's) as 'before'")
    ns = parser.parse_args()
    quick = ns.quick
    if ns.compare:
        from _runner_compare import compare

        baseline = str(Path(ns.baseline_runner).resolve()) if ns.baseline_runner else None
        compare(quick, max(1, ns.rounds), ns.suite or ["werkzeug", "llmteam"], baseline)
        return
    print(f"{'figure':<52} {'measured':>14}  {'target':<22} ok?")
    print("-" * 96)
    if not quick:
        project_suite()
    per_test_overhead()
    replacement()
    supervisor_cpu()
    memory_cap("private heap", LEAK_PRIVATE)
    memory_cap("shared mmap, no rlimit", LEAK_SHARED)
    hang()


if __name__ == "__main__":
    os.environ.pop("PYTEST_ADDOPTS", None)
    main()
