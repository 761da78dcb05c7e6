"""The state directory is written only where it says: symbolic links planted in it (committed in a checkout, or
made by a test during the run) never make the runner truncate or write a file elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

# nested runs start interpreters: on a loaded machine one can take minutes (a hang guard, not a timing)
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def victim(tmp_path_factory: Any) -> Path:
    """A directory elsewhere holding a file that must stay as it is."""
    path = tmp_path_factory.mktemp("victim")
    (path / "m.log").write_text("precious data\n")
    (path / "m.1.txt").write_text("precious data\n")
    return path


def _intact(victim: Path) -> bool:
    return sorted(os.listdir(victim)) == ["m.1.txt", "m.log"] and all(
        (victim / name).read_text() == "precious data\n" for name in ("m.log", "m.1.txt"))


@pytest.mark.parametrize("planted", [("logs", "specs"), ("stacks",), (".",)], ids=["logs-and-specs", "stacks",
                                                                                 "the-state-dir"])
def test_a_symlinked_state_directory_is_refused(project: Any, victim: Path, planted: tuple[str, ...]) -> None:
    project.write("tests/m/test_m.py", project.ordinary("m"))
    state = project.root / ".testrun"
    if planted == (".",):
        state.symlink_to(victim)
    else:
        state.mkdir()
        for sub in planted:
            (state / sub).symlink_to(victim)
    proc = subprocess.run(project.command(), cwd=project.root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("run_tests.py: error: ") and "symbolic link" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _intact(victim)


PLANT = """
import os

# padding, so that this module is planned first (a longer file is expected to run longer)
{padding}

def test_plant():
    state = os.path.join({root!r}, ".testrun")
    for sub, name in (("logs", "m.log"), ("stacks", "m.1.txt")):
        os.symlink(os.path.join({victim!r}, name), os.path.join(state, sub, name))
"""


def test_files_a_test_plants_in_the_state_directory_are_replaced_not_followed(project: Any, victim: Path) -> None:
    project.write("tests/a/test_a.py", PLANT.format(root=str(project.root), victim=str(victim),
                                                    padding="#" * 20000))
    project.write("tests/m/test_m.py", project.ordinary("m"))
    result = project.run("--jobs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [m["name"] for m in sorted(result.report["modules"], key=lambda m: m["started_at"])] == ["a", "m"]
    assert _intact(victim)
    log = project.root / ".testrun" / "logs" / "m.log"
    assert not log.is_symlink() and "2 passed" in log.read_text()


def test_state_files_are_not_read_through_a_symlink(project: Any, victim: Path) -> None:
    (victim / "peaks.json").write_text(json.dumps({"m": 123456789}))
    project.write("tests/m/test_m.py", project.ordinary("m"))
    (project.root / ".testrun").mkdir()
    (project.root / ".testrun" / "peaks.json").symlink_to(victim / "peaks.json")
    result = project.run("--mem-limit", "300M")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.module("m")["predicted_peak_bytes"] == 300 * 2**20  # no history of its own: the cap
    assert json.loads((victim / "peaks.json").read_text()) == {"m": 123456789}
