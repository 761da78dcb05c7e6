"""--mem-budget keeps concurrent predicted peaks under the budget; peaks are learnt into .testrun/peaks.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)

HOLD = """
import time


def test_hold_300_mib():
    blob = "x" * (300 * 2**20)
    time.sleep(0.4)
    assert blob
"""


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]


def test_budget_prevents_overlap_of_two_300_mib_modules(project: Any) -> None:
    project.write("tests/big1/test_big1.py", HOLD)
    project.write("tests/big2/test_big2.py", HOLD)
    peaks = {"big1": 340 * 2**20, "big2": 340 * 2**20}
    (project.root / ".testrun").mkdir()
    (project.root / ".testrun" / "peaks.json").write_text(json.dumps(peaks))

    limited = project.run("--jobs", "2", "--mem-limit", "500M", "--mem-budget", "400M")
    assert limited.returncode == 0, limited.stdout
    assert not _overlap(limited.module("big1"), limited.module("big2"))
    for name in ("big1", "big2"):
        assert limited.module(name)["predicted_peak_bytes"] == 340 * 2**20
        assert limited.module(name)["peak_rss_bytes"] > 300 * 2**20  # measured exactly (wait4)

    # control: with room for both, --jobs 2 does run them at the same time
    roomy = project.run("--jobs", "2", "--mem-limit", "500M", "--mem-budget", "2G")
    assert _overlap(roomy.module("big1"), roomy.module("big2"))


def test_measured_peaks_are_saved_and_unknown_modules_predicted_at_the_largest(project: Any) -> None:
    project.write("tests/small/test_small.py", project.ordinary("small"))
    first = project.run("--mem-limit", "400M")
    assert first.module("small")["predicted_peak_bytes"] == 400 * 2**20  # no history: the cap
    saved = json.loads((project.root / ".testrun" / "peaks.json").read_text())
    assert saved["small"] == first.module("small")["peak_rss_bytes"] > 0

    project.write("tests/fresh/test_fresh.py", project.ordinary("fresh"))
    second = project.run("--mem-limit", "400M")
    assert second.module("fresh")["predicted_peak_bytes"] == saved["small"]


CGROUP_PROBE = """
def test_probe():
    lines = open("/proc/self/cgroup").read().splitlines()
    own = "/sys/fs/cgroup" + next(line[3:] for line in lines if line.startswith("0::"))
    with open({out!r}, "w") as fh:
        fh.write(own + "\\n" + open(own + "/memory.max").read())
"""


def _no_delegated_cgroup() -> str | None:
    """Why this machine has no cgroup v2 the runner may use for memory.max, or None when it has one."""
    from testrunner._sysutil import delegated_cgroup

    if delegated_cgroup() is not None:
        return None
    root = Path("/sys/fs/cgroup")
    if not (root / "cgroup.controllers").exists():
        unified = root / "unified" / "cgroup.controllers"
        extra = f"; its cgroup2 mount at {unified.parent} has controllers: " + (
            unified.read_text().strip() or "none") if unified.exists() else ""
        return f"{root} is not a cgroup v2 hierarchy (cgroup v1 or hybrid{extra}): no delegated memory controller"
    return (f"no cgroup v2 directory with the memory controller in cgroup.subtree_control is writable by this "
            f"process (its cgroup: {Path('/proc/self/cgroup').read_text().strip()})")


def test_a_delegated_cgroup_v2_caps_each_worker(project: Any) -> None:
    reason = _no_delegated_cgroup()
    if reason is not None:
        pytest.skip(f"{reason}; the runner then caps each worker tree by RLIMIT_DATA and RSS sampling alone")
    out = project.root / "cgroup.txt"
    project.write("tests/probe/test_probe.py", CGROUP_PROBE.format(out=str(out)))
    result = project.run("--mem-limit", "300M")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.report["cgroup"] is not None
    own, limit = out.read_text().split()
    assert own.startswith(result.report["cgroup"].rstrip("/") + "/testrunner-")  # a cgroup of its own
    assert int(limit) == 300 * 2**20  # memory.max is the cap; processes the test starts inherit the cgroup
    assert not Path(own).exists()  # removed when the worker ended
