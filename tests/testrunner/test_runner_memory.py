"""--mem-budget keeps concurrent predicted peaks under the budget; peaks are learnt into .testrun/peaks.json."""

from __future__ import annotations

import json
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
