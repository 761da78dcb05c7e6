"""What tool governance hands out: approval requests and decisions, call outcomes and usage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.llm import Message, ToolCall
from llmteam.tools._policy import Risk


@dataclass(frozen=True)
class ToolRequest:
    """A call waiting for approval: what the approver is shown (arguments included, they decide on them)."""

    tenant_id: str
    run_id: str
    agent: str
    tool: str
    description: str
    arguments: Mapping[str, Any]
    risk: Risk
    call_id: str


@dataclass(frozen=True)
class ApprovalDecision:
    """An approver's answer naming who decided and why (what a durable approval returns to :func:`govern`).

    ``audited``: the decision is already in the tenant's audit chain (written once by whoever decided), so
    :func:`govern` does not record it again.
    """

    granted: bool
    approver: str
    reason: str = ""
    audited: bool = False

    def __post_init__(self) -> None:
        # a denial typed as text ("false", "no") is truthy: only a real bool may decide (fail closed)
        for name in ("granted", "audited"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"ApprovalDecision.{name}={bounded_repr(value)} must be True or False, not "
                                f"{type(value).__name__}; convert the approver's answer to a bool first")
        for name in ("approver", "reason"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"ApprovalDecision.{name}={bounded_repr(value)} must be text, not "
                                f"{type(value).__name__}")


Approver = Callable[[ToolRequest], Awaitable["bool | ApprovalDecision"]]


@dataclass
class ToolUsage:
    """Tool calls made, their time and their price (per run, or per agent)."""

    calls: int = 0
    duration_ms: float = 0.0
    cost: float = 0.0


@dataclass
class ToolOutcome:
    """What became of one requested call; ``content`` is the text the model gets back."""

    call: ToolCall
    decision: str
    executed: bool
    ok: bool
    content: str
    error: str | None = None
    duration_ms: float = 0.0
    audit_sequence: int = 0
    price: float = 0.0

    def to_message(self) -> Message:
        """The ``role: "tool"`` message answering the call."""
        return {"role": "tool", "tool_call_id": self.call.id, "content": self.content}
