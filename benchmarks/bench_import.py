"""Time `import llmteam` and each core module in fresh interpreters (target: top-level well under 50 ms)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

MODULES = ["llmteam", "llmteam.tenancy", "llmteam.audit", "llmteam.context", "llmteam.ratelimit",
           "llmteam.licensing", "llmteam.execution", "llmteam.roles"]
RUNS = 7


def cost_ms(module: str) -> float:
    """Median wall time of importing ``module`` minus the bare interpreter start, in ms."""
    def timed(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return (time.perf_counter() - start) * 1000

    base = statistics.median(timed("pass") for _ in range(RUNS))
    return statistics.median(timed(f"import {module}") for _ in range(RUNS)) - base


def main() -> None:
    print(f"{'import':<22}{'ms':>8}  target")
    for module in MODULES:
        ms = cost_ms(module)
        target = "< 50 ms" if module == "llmteam" else ""
        print(f"{module:<22}{ms:>8.1f}  {target}")


if __name__ == "__main__":
    main()
