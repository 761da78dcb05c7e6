"""What a run returns: :class:`RunResult` with the output, usage, steps and the audit chain head."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmteam.team._usage import Usage


@dataclass(frozen=True)
class AuditHead:
    """The tenant's audit chain head after a run: the last record's sequence number and checksum."""

    tenant_id: str
    sequence_number: int
    checksum: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"tenant_id": self.tenant_id, "sequence_number": self.sequence_number, "checksum": self.checksum}


@dataclass
class ToolCallRecord:
    """One tool call an agent asked for in a step: what the policy decided and how the call went."""

    tool: str
    call_id: str
    decision: str
    executed: bool
    ok: bool
    duration_ms: float
    audit_sequence: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"tool": self.tool, "call_id": self.call_id, "decision": self.decision, "executed": self.executed,
                "ok": self.ok, "duration_ms": round(self.duration_ms, 3), "audit_sequence": self.audit_sequence,
                "error": self.error}


@dataclass
class StepRecord:
    """One governed agent step: which agent, which model, tokens, cost, its tool calls and how long it took."""

    step: int
    agent: str
    model: str
    usage: Usage
    duration_ms: float
    audit_sequence: int
    tool_calls: list[ToolCallRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "step": self.step,
            "agent": self.agent,
            "model": self.model,
            "usage": self.usage.to_dict(),
            "duration_ms": round(self.duration_ms, 3),
            "audit_sequence": self.audit_sequence,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
        }


@dataclass
class RunResult:
    """The outcome of one run for one tenant.

    ``output`` is the answer (the ``output`` agent's, else the last agent's); ``outputs`` holds every agent
    output the caller may see (SECRET/TOP_SECRET agents are left out unless they gave the answer);
    ``usage`` and ``usage_by_agent`` are tokens and cost; ``audit_head`` is where the run left the tenant's chain;
    ``values`` holds the validated value (pydantic model instance or JSON data) of each visible agent with an
    ``output`` schema.
    """

    run_id: str
    tenant_id: str
    team: str
    output: str
    outputs: dict[str, str]
    usage: Usage
    usage_by_agent: dict[str, Usage]
    audit_head: AuditHead
    steps: list[StepRecord] = field(default_factory=list)
    duration_ms: float = 0.0
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "run_id": self.run_id,
            "tenant_id": self.tenant_id,
            "team": self.team,
            "output": self.output,
            "outputs": dict(self.outputs),
            "usage": self.usage.to_dict(),
            "usage_by_agent": {a: u.to_dict() for a, u in self.usage_by_agent.items()},
            "audit_head": self.audit_head.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "duration_ms": round(self.duration_ms, 3),
        }
