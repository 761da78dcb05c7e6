"""The real ``llmteam`` console script of this interpreter's environment, run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "llmteam"


@dataclass
class Done:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_llmteam(*args: str, cwd: Path, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
                timeout: float = 120) -> Done:
    """Run ``llmteam ARGS`` in ``cwd`` with a clean LLMTEAM_* environment (plus ``env``), 80 columns."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLMTEAM_")}
    base.update({"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}, **(env or {}))
    proc = subprocess.run([*prefix, str(SCRIPT), *args], cwd=cwd, env=base, capture_output=True, text=True,
                          timeout=timeout)
    return Done(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def llmteam(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not SCRIPT.exists():
        pytest.skip(f"the llmteam console script is not installed next to {sys.executable}")

    def call(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Done:
        return run_llmteam(*args, cwd=cwd or tmp_path, env=env)

    return call


def read_only_prefix(directory: Path) -> tuple[str, ...] | None:
    """A command prefix that runs a program with ``directory`` read-only (a private read-only bind mount as root,
    the working directory re-entered through it).

    None when neither works here (then the caller uses chmod, which binds a non-root user).
    """
    if os.geteuid() != 0:
        return ()
    if shutil.which("unshare") is None:
        return None
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && cd "$(pwd -P)" && exec "$@"'
    return ("unshare", "-m", "sh", "-c", script, str(directory))
