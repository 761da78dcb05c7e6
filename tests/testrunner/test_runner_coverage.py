"""--coverage combines every worker's data, including a killed worker's, into what one process measures."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)


PKG = """
def sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0


def label(flag):
    if flag:
        return "on"
    return "off"


def never_called():
    return "unused"
"""


def _missing(project: Any, data_file: str) -> dict[str, list[int]]:
    out = project.root / f"{data_file}.json"
    subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data_file}", "-o", str(out), "-q"],
                   cwd=project.root, check=True)
    files = json.loads(out.read_text())["files"]
    return {path: data["missing_lines"] for path, data in files.items()}


def test_coverage_matches_a_single_process(project: Any) -> None:
    project.write("src/mypkg/__init__.py", PKG)
    project.write("tests/pos/test_pos.py", "from mypkg import sign\n\ndef test_pos():\n    assert sign(3) == 1\n")
    project.write(
        "tests/neg/test_neg.py",
        """
        import os
        from mypkg import label, sign

        def test_neg():
            assert sign(-3) == -1

        def test_label():
            assert label(True) == "on"

        def test_killed_worker():
            os._exit(1)  # the lines above, run by this worker, must still count
        """,
    )
    result = project.run("--coverage")
    assert result.returncode == 1
    assert result.report["coverage"]["percent"] is not None
    runner_missing = _missing(project, ".coverage")

    subprocess.run(
        [sys.executable, "-m", "coverage", "run", "--data-file=.single", "-m", "pytest", "-q", "tests",
         "-k", "not killed_worker"],
        cwd=project.root, check=True, capture_output=True,
    )
    single_missing = _missing(project, ".single")
    assert runner_missing == single_missing
    assert runner_missing["src/mypkg/__init__.py"] == [7, 13, 17]
