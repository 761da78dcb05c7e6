"""Approvals inside a run: an agent declared ``approval=True`` and tool calls whose policy is ``confirm``.

:class:`Approvals` is how a runtime's runs get a person's (or a program's) decision. In process it asks the
runtime's ``approver`` callable and waits for its answer (``approval_timeout`` bounds the wait of an agent
approval); the durable layer replaces it with one that pauses the run until a decision arrives from any
process (``llmteam.durable``): :class:`RunPaused` then unwinds the run without recording a failure.
Every decision is one record in the tenant's audit chain, written once (looked up before it is written).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmteam._repr import bounded_repr
from llmteam.audit import AuditEventType, AuditRecord, AuditSeverity
from llmteam.team._errors import TeamError
from llmteam.tools import ApprovalDecision, Approver, Risk, ToolRequest

if TYPE_CHECKING:
    from llmteam.team._run import RunState
    from llmteam.team._team import Agent

logger = logging.getLogger(__name__)
DECISION_EVENTS = {"approved": AuditEventType.APPROVAL_GRANTED, "denied": AuditEventType.APPROVAL_REJECTED,
                   "timeout": AuditEventType.APPROVAL_TIMEOUT}
MAX_APPROVER = 200
MAX_REASON = 2000
MAX_FAILURE = 200  # characters of a failing approver's message logged (the audited reason names its type)


class RunPaused(BaseException):
    """A durable run paused for a decision: it unwinds the run without recording a failure (not an Exception,
    so no ``except Exception`` and no checkpoint records it); the run continues later from its checkpoints."""


class ApprovalDeniedError(TeamError):
    """An agent step that needs approval was denied (or its deadline passed); the message names who and why."""


@dataclass(frozen=True)
class ApprovalRequest:
    """One approval a run asks for: agent step ``step`` (``key`` names it uniquely within the run)."""

    tenant_id: str
    run_id: str
    step: int
    key: str
    agent: str
    tool: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None


def decision_status(decision: ApprovalDecision, timed_out: bool = False) -> str:
    """``approved``, ``denied`` or ``timeout``: the word the audit chain and the approvals table use."""
    return "approved" if decision.granted is True else "timeout" if timed_out else "denied"


async def audit_decision(run: RunState, request: ApprovalRequest, status: str, approver: str,
                         reason: str, **metadata: Any) -> AuditRecord:
    """The decision's record in the tenant's chain (GRANTED/REJECTED/TIMEOUT), written once per ``request.key``."""
    from llmteam.team._run import find_audit

    event = DECISION_EVENTS[status]
    found = await find_audit(run.trail, run.run_id, event, request.key)()
    if found is not None:
        return found
    granted = status == "approved"
    record: AuditRecord = await run.trail.log(
        event, severity=AuditSeverity.INFO if granted else AuditSeverity.WARNING, actor_type="user",
        actor_id=approver[:MAX_APPROVER], action=status, resource_type="agent" if request.tool is None else "tool",
        resource_id=request.agent if request.tool is None else request.tool, success=granted,
        error_message="" if granted else reason[:MAX_REASON], pipeline_id=run.team.name, run_id=run.run_id,
        agent_name=request.agent, step_name=request.key,
        metadata={"step": request.step, "reason": reason[:MAX_REASON], **metadata},
    )
    return record


def _decision(answer: object) -> ApprovalDecision:
    """What an approver's ``answer`` decides: an ApprovalDecision whose ``granted`` is True or a bare True grants;
    anything else (False, None, "yes", a forged decision) is a denial that says what came back."""
    if isinstance(answer, ApprovalDecision):
        if answer.granted is True or answer.granted is False:
            return answer
        granted = bounded_repr(answer.granted)
        return ApprovalDecision(False, "approver", f"the approver's decision has granted={granted}, not True or False")
    if answer is True or answer is False:
        return ApprovalDecision(answer, "approver", "" if answer else "the approver refused it")
    return ApprovalDecision(False, "approver", f"the approver answered {bounded_repr(answer)} "
                                               f"({type(answer).__name__}), not True, False or an ApprovalDecision")


def denied_error(request: ApprovalRequest, decision: ApprovalDecision) -> ApprovalDeniedError:
    """The error that fails a run whose agent approval was denied, naming the approver and the reason."""
    return ApprovalDeniedError(
        f"agent {request.agent!r} (step {request.step}) of run {request.run_id!r} was not approved: denied by "
        f"{decision.approver!r}: {decision.reason or 'no reason given'}"
    )


class Approvals:
    """In process: the runtime's ``approver`` callable decides (without one, approvals are refused: fail closed)."""

    def __init__(self, approver: Approver | None) -> None:
        self.approver = approver

    def for_tools(self, run: RunState, approver: Approver | None) -> Approver | None:
        """The approver the run's ``confirm`` tool calls ask (in process: the one the run's scope has)."""
        return approver

    async def finished(self, run: RunState) -> None:
        """Called once a run ends, before its events are written (durable approvals add their waits here)."""

    async def agent(self, run: RunState, agent: Agent, step: int) -> ApprovalDecision:
        """Decide whether ``agent`` may run step ``step``; a denial raises :class:`ApprovalDeniedError`."""
        request = ApprovalRequest(run.tenant_id, run.run_id, step, f"agent:{step}", agent.name, None,
                                  timeout=agent.approval_timeout)
        decision = await self.decide_agent(run, request)
        if decision.granted is not True:  # only a real True grants (fail closed)
            raise denied_error(request, decision)
        return decision

    async def decide_agent(self, run: RunState, request: ApprovalRequest) -> ApprovalDecision:
        """Ask the approver callable (bounded by ``request.timeout``) and audit its answer once."""
        timed_out = False
        if self.approver is None:
            decision = ApprovalDecision(False, "llmteam", "no approver is configured")
        else:
            ask = ToolRequest(request.tenant_id, request.run_id, request.agent, f"agent:{request.agent}",
                              f"agent {request.agent!r} step {request.step}", {}, Risk.HIGH, request.key)
            try:
                answer = await asyncio.wait_for(self.approver(ask), request.timeout)
            except asyncio.TimeoutError:
                timed_out, answer = True, ApprovalDecision(False, "deadline", "no decision before the deadline")
            except Exception as exc:  # an approver that fails (or builds a bad decision) refuses
                logger.warning("the approver of run %r step %s failed, so it is denied: %s: %s", request.run_id,
                               request.step, type(exc).__name__, str(exc)[:MAX_FAILURE])
                answer = ApprovalDecision(False, "approver", f"the approver failed ({type(exc).__name__})")
            decision = _decision(answer)
        await audit_decision(run, request, decision_status(decision, timed_out), decision.approver, decision.reason)
        return decision
