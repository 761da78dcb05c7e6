"""What a run has learnt so far: per-module results, culprits and memory figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ._discovery import Module

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RSS_GROWTH_FLAG = 16 * 2**20
# pytest's categories beyond passed/failed/skipped: (report key, outcome), in the order of the summary line
EXTRA_CATEGORIES = (("errors", "error"), ("xfailed", "xfailed"), ("xpassed", "xpassed"))
_MAX_FLAGS = 200


@dataclass
class CaseResult:
    """Outcome of one test (a culprit is a failed result with ``cause`` set)."""

    nodeid: str
    outcome: str
    duration: float = 0.0
    text: str = ""
    cause: str | None = None


@dataclass
class Culprit:
    """A test that took its worker down (or hit the memory cap)."""

    nodeid: str
    cause: str
    rss_bytes: int
    stack: str = ""
    worker_peak_rss_bytes: int = 0
    killed_at: float | None = None
    test_started_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodeid": self.nodeid, "cause": self.cause, "rss_bytes": self.rss_bytes,
            "worker_peak_rss_bytes": self.worker_peak_rss_bytes, "killed_at": self.killed_at,
            "test_started_at": self.test_started_at,
        }
        if self.stack:
            data["stack"] = self.stack
        return data


@dataclass
class ModuleState:
    """Results of one module, possibly gathered over several workers."""

    module: Module
    predicted_bytes: int = 0
    status: str = "pending"
    collected: list[str] = field(default_factory=list)
    results: dict[str, CaseResult] = field(default_factory=dict)
    culprits: list[Culprit] = field(default_factory=list)
    rss_growth: list[dict[str, Any]] = field(default_factory=list)
    peak_rss: int = 0
    workers: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    current: str | None = None
    log_file: str = ""
    replace_latency_s: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.module.name

    def add_collected(self, nodeids: list[str]) -> None:
        """Add node ids a worker collected (the shards of a split module each report their own)."""
        known = set(self.collected)
        self.collected.extend(n for n in nodeids if n not in known)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results.values() if r.outcome == outcome)

    @property
    def not_run(self) -> int:
        if self.status != "done":
            return 0  # interrupted or stopped by -x/--maxfail: tests not run are not failures, as in pytest
        return sum(1 for n in self.collected if n not in self.results)

    @property
    def tests(self) -> int:
        return len(set(self.collected) | set(self.results))

    @property
    def wall(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started_at

    def add_result(self, result: CaseResult) -> None:
        self.results[result.nodeid] = result

    def flag_growth(self, nodeid: str, before: int, after: int) -> None:
        if after - before > RSS_GROWTH_FLAG and len(self.rss_growth) < _MAX_FLAGS:
            self.rss_growth.append({"nodeid": nodeid, "growth_bytes": after - before, "rss_bytes": after})

    def failed_total(self) -> int:
        return self.count("failed") + self.not_run

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "paths": list(self.module.paths),
            "status": self.status,
            "tests": self.tests,
            "passed": self.count("passed"),
            "failed": self.failed_total(),
            "skipped": self.count("skipped"),
            **{key: self.count(outcome) for key, outcome in EXTRA_CATEGORIES},
            "not_run": self.not_run,
            "wall_s": round(self.wall, 3),
            "peak_rss_bytes": self.peak_rss,
            "predicted_peak_bytes": self.predicted_bytes,
            "workers": self.workers,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "culprits": [c.to_json() for c in self.culprits],
            "rss_growth": self.rss_growth,
            "failures": [
                {"nodeid": r.nodeid, "cause": r.cause, "text": r.text[-2000:]}
                for r in self.results.values()
                if r.outcome in ("failed", "error")
            ][:200],
            "log_file": self.log_file,
            "replace_latency_s": [round(x, 4) for x in self.replace_latency_s[:50]],
        }


def totals(states: list[ModuleState]) -> dict[str, int]:
    """Sums over modules: tests, passed, failed (incl. culprits and tests never run), skipped, errors, xfailed,
    xpassed, culprits."""
    return {
        "modules": len(states),
        "tests": sum(s.tests for s in states),
        "passed": sum(s.count("passed") for s in states),
        "failed": sum(s.failed_total() for s in states),
        "skipped": sum(s.count("skipped") for s in states),
        **{key: sum(s.count(outcome) for s in states) for key, outcome in EXTRA_CATEGORIES},
        "not_run": sum(s.not_run for s in states),
        "culprits": sum(len(s.culprits) for s in states),
    }
