"""Combine the coverage data every worker saved (after each test) into one data file, as one process would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def combine_coverage(worker_file: str, console: Any) -> dict[str, Any]:
    """Merge worker data into ``./.coverage``, print the report; returns data file and total percent."""
    data_dir = str(Path(worker_file).parent)
    target = str(Path(".coverage").resolve())
    Path(target).unlink(missing_ok=True)
    run = [sys.executable, "-m", "coverage"]
    combined = subprocess.run([*run, "combine", f"--data-file={target}", data_dir],
                              capture_output=True, text=True, check=False)
    if combined.returncode != 0:
        console.line(f"coverage combine failed: {combined.stderr.strip() or combined.stdout.strip()}")
        return {"data_file": None, "error": combined.stderr.strip()}
    report = subprocess.run([*run, "report", f"--data-file={target}"], capture_output=True, text=True, check=False)
    console.line("")
    for line in report.stdout.rstrip().splitlines():
        console.line(line)
    total = subprocess.run([*run, "report", "--format=total", f"--data-file={target}"],
                           capture_output=True, text=True, check=False)
    try:
        percent: float | None = float(total.stdout.strip())
    except ValueError:
        percent = None
    return {"data_file": target, "percent": percent}
