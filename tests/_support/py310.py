"""Run a snippet on a real Python 3.10 (the oldest Python pyproject allows), with this checkout's ``src`` imported.

Python 3.10 has code paths of its own (no ``asyncio.timeout``, no ``Task.uncancel``, an ``asyncio.TimeoutError``
that is not the built-in one) that the interpreter running the suite may never take.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _is_python310(path: str) -> bool:
    try:  # a pyenv shim is on PATH but may refuse to run when 3.10 is not its selected version
        done = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
                              capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return done.stdout.strip() == "True"


def python310() -> str:
    """The path of a working Python 3.10 interpreter, or the test is skipped saying none was found."""
    candidates = [shutil.which("python3.10"), *sorted(glob.glob("/root/.pyenv/versions/3.10.*/bin/python"))]
    for path in candidates:
        if path is not None and _is_python310(path):
            return path
    pytest.skip("no working Python 3.10 interpreter (python3.10 on PATH or pyenv's versions/3.10.*): the 3.10 "
                "code path cannot be checked here")


def run_on_python310(code: str) -> str:
    """``code`` run by Python 3.10 with ``src`` on its path (only the standard library besides); its stdout, or
    the test fails quoting its stderr."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([python310(), "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()
