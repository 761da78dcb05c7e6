"""Coverage: workers measure into a private directory; the supervisor combines only that directory's data."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any


def coverage_config(rootdir: str) -> str | None:
    """The project's coverage configuration file, found from rootdir as coverage finds it from the project root
    (``$COVERAGE_RCFILE``, ``.coveragerc``, then ``setup.cfg``/``tox.ini``/``pyproject.toml`` with a coverage
    section), so a run started from another directory measures the same way."""
    if os.environ.get("COVERAGE_RCFILE"):
        return os.environ["COVERAGE_RCFILE"]
    root = Path(rootdir)
    if (root / ".coveragerc").is_file():
        return str(root / ".coveragerc")
    for name in ("setup.cfg", "tox.ini"):
        parser = configparser.ConfigParser()
        try:
            parser.read(root / name)
        except configparser.Error:
            continue
        if any(s.startswith("coverage:") for s in parser.sections()):
            return str(root / name)
    try:
        text = (root / "pyproject.toml").read_text()
    except OSError:
        return None
    return str(root / "pyproject.toml") if re.search(r"^\[tool\.coverage[.\]]", text, re.MULTILINE) else None


def combine_coverage(cov: dict[str, Any], console: Any) -> dict[str, Any]:
    """Merge the private directory's data into ``./.coverage`` and print the report; returns data file and total.

    Only the workers' files are combined: stray ``.coverage.*`` files of earlier runs in the working directory
    never are, whatever ``parallel`` says.
    """
    data_dir = str(Path(cov["data_file"]).parent)
    target = str(Path(".coverage").resolve())
    Path(target).unlink(missing_ok=True)
    rc = [f"--rcfile={cov['config_file']}"] if cov.get("config_file") else []
    cwd = cov.get("rootdir") or None

    def coverage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "coverage", *args], cwd=cwd, capture_output=True, text=True,
                              check=False)

    combined = coverage("combine", *rc, "--keep", f"--data-file={target}", data_dir)
    if combined.returncode != 0:
        console.line(f"coverage combine failed: {combined.stderr.strip() or combined.stdout.strip()}")
        return {"data_file": None, "error": combined.stderr.strip()}
    report = coverage("report", *rc, f"--data-file={target}")
    console.line("")
    for line in report.stdout.rstrip().splitlines():
        console.line(line)
    total = coverage("report", *rc, "--format=total", f"--data-file={target}")
    try:
        percent: float | None = float(total.stdout.strip())
    except ValueError:
        percent = None
    return {"data_file": target, "percent": percent}
