"""Run records: what the runtime persists about each run, and a tenant's accumulated usage."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.team._errors import TeamError
from llmteam.team._usage import Usage

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
"""A run id: what every store, audit record, event log and trace of the run can hold (and a durable run's id)."""


def check_run_id(run_id: object) -> str:
    """``run_id`` if it is 1-128 letters, digits or ``_.:-`` (not first); else a TeamError naming it."""
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        raise TeamError(f"run id {bounded_repr(run_id)} must be 1-128 letters, digits, '_', '.', ':' or '-', starting "
                        "with a letter or digit; or leave it out for a generated one")
    return run_id


def utc_day(epoch: float) -> str:
    """The UTC calendar day (``YYYY-MM-DD``) of an epoch time: the unit of ``runs_per_day``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


@dataclass
class RunRecord:
    """One run as persisted: who, which team, status, input/output, usage in total and per agent."""

    run_id: str
    tenant_id: str
    team: str
    status: str = "running"
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    input: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    error: str | None = None
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    usage_by_agent: dict[str, Usage] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (times as ISO 8601 UTC)."""

        def iso(t: float | None) -> str | None:
            return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat()

        return {
            "run_id": self.run_id,
            "tenant_id": self.tenant_id,
            "team": self.team,
            "status": self.status,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "steps": self.steps,
            "usage": self.usage.to_dict(),
            "usage_by_agent": {a: u.to_dict() for a, u in self.usage_by_agent.items()},
        }


@dataclass
class TenantUsage:
    """A tenant's accumulated usage: in total, per agent and per model, over the runs it has finished."""

    tenant_id: str
    runs: int = 0
    total: Usage = field(default_factory=Usage)
    by_agent: dict[str, Usage] = field(default_factory=dict)
    by_model: dict[str, Usage] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "tenant_id": self.tenant_id,
            "runs": self.runs,
            "total": self.total.to_dict(),
            "by_agent": {k: v.to_dict() for k, v in self.by_agent.items()},
            "by_model": {k: v.to_dict() for k, v in self.by_model.items()},
        }
