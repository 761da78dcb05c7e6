"""Governing tool calls: policy decision, sealed-data screening, approval, rate limit, timeout, audit, mining.

:class:`ToolScope` is what one run shares between its agents' calls (tenant, audit trail, policy, approver,
sealed values, counters); :func:`govern` runs one requested call through every check and returns a
:class:`ToolOutcome` whose message goes back to the model. Nothing raises out of :func:`govern` except when
the rule says ``fail_run`` (or the audit itself fails): a refused or failing call becomes a tool-error
message to the model and an audit record.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmteam._deadline import Deadlines
from llmteam._text import unicode_text
from llmteam.audit import AuditEventType, AuditSeverity, AuditTrail
from llmteam.context import SensitivityLevel
from llmteam.licensing import LicenseTier
from llmteam.llm import ToolCall
from llmteam.observability import NO_TELEMETRY, NoTelemetry
from llmteam.ratelimit import RateLimiter, RateLimitError
from llmteam.tools._errors import ToolArgumentsError, ToolError, ToolFailedError, ToolTimeoutError
from llmteam.tools._guard import (
    MAX_ERROR_CHARS,
    Digester,
    SealedValue,
    bounded,
    canonical,
    check_text,
    parse_arguments,
    result_text,
    sealed_leak,
    value_texts,
)
from llmteam.tools._outcome import ApprovalDecision, Approver, ToolOutcome, ToolRequest, ToolUsage
from llmteam.tools._policy import Decision, Risk, ToolPolicy, ToolRule
from llmteam.tools._threads import tenant_scope
from llmteam.tools._tool import Tool

MAX_NAME = 200  # tool names and call ids come from the model: bounded before they are recorded
MAX_CALLS_PER_TURN = 64  # calls beyond this in one model answer are refused (each still audited)
MAX_CONCURRENT = 16  # calls of one turn running at once

CallStep = Callable[[ToolCall, Callable[[], Awaitable["ToolOutcome"]]], Awaitable["ToolOutcome"]]
EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
Mining = Callable[[str, str, int, float, dict[str, Any]], None]
LimiterFor = Callable[[str, float], Awaitable[RateLimiter]]


@dataclass
class AgentTools:
    """One agent's declared tools (its allow-list), the rules the team declared for them, and its clearance."""

    agent: str
    level: SensitivityLevel
    tools: Mapping[str, Tool]
    rules: Mapping[str, ToolRule] = field(default_factory=dict)


@dataclass
class ToolScope:
    """The run-wide side of tool governance, shared by every step of one run.

    ``call_step`` (durable runs): a turn's calls run one after another, each through ``call_step`` (a
    checkpointed step), so a resumed run repeats no completed call; an outcome replayed from its checkpoint is
    still counted (caps, usage unless ``own_usage`` is False, mining).
    """

    tenant_id: str
    run_id: str
    pipeline_id: str
    trail: AuditTrail
    policy: ToolPolicy = field(default_factory=ToolPolicy)
    has_feature: Callable[[str], bool] = lambda feature: False
    has_tier: Callable[[LicenseTier], bool] = lambda tier: tier is LicenseTier.COMMUNITY
    sealed: Callable[[], Iterable[SealedValue]] = lambda: ()
    approver: Approver | None = None
    limiter_for: LimiterFor | None = None
    digest_key: bytes | None = None
    mining: Mining | None = None
    on_event: EventSink | None = None
    call_step: CallStep | None = None
    own_usage: bool = True
    telemetry: NoTelemetry = NO_TELEMETRY
    max_result_chars: int = 16_000
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    rules: dict[tuple[str, str], ToolRule] = field(default_factory=dict)
    usage: ToolUsage = field(default_factory=ToolUsage)
    usage_by_agent: dict[str, ToolUsage] = field(default_factory=dict)
    _deadlines: Deadlines | None = field(default=None, init=False, repr=False, compare=False)
    _digester: Digester | None = field(default=None, init=False, repr=False, compare=False)

    def digest(self, text: str) -> str:
        """:func:`~llmteam.tools.digest` of ``text`` under ``digest_key`` (the key's HMAC state set up once)."""
        digester = self._digester
        if digester is None or digester.key is not self.digest_key:
            digester = self._digester = Digester(self.digest_key)
        return digester(text)

    def deadlines(self) -> Deadlines:
        """The timeouts of this run's calls in the running event loop (one timer for all of them)."""
        loop = asyncio.get_running_loop()
        table = self._deadlines
        if table is None or table.loop is not loop:
            table = self._deadlines = Deadlines(loop)
        return table

    async def emit(self, kind: str, **data: Any) -> None:
        """Tell the run's listener (streaming) what happened.

        The calls below check ``on_event`` first: with no listener (most runs) no event is even built.
        """
        if self.on_event is not None:
            await self.on_event(kind, data)

    async def audit(self, event: AuditEventType, agent: str, tool: str, call: ToolCall, *, success: bool,
                    severity: AuditSeverity = AuditSeverity.INFO, error: str | None = None,
                    **metadata: Any) -> int:
        """One audit record about ``call`` in the tenant's chain; returns its sequence number."""
        record = await self.trail.log(
            event, severity=severity, actor_type="agent", actor_id=agent, action="tool_call", resource_type="tool",
            resource_id=tool[:MAX_NAME], success=success, error_message=error or "", pipeline_id=self.pipeline_id,
            run_id=self.run_id, agent_name=agent, step_name=call.id[:MAX_NAME],
            metadata={"call_id": call.id[:MAX_NAME], **metadata},
        )
        return record.sequence_number


def _refusal(rule: ToolRule, scope: ToolScope, agent: str, tool: str, arguments: Mapping[str, Any]) -> str | None:
    if rule.decision is Decision.DENY:
        return f"the tool policy denies {tool!r} to agent {agent!r}"
    if rule.features:
        missing = sorted(f for f in rule.features if not scope.has_feature(f))
        if missing:
            return f"tool {tool!r} needs the tenant feature(s) {missing}"
    if rule.licence_tier is not None and not scope.has_tier(rule.licence_tier):
        return f"tool {tool!r} needs the {rule.licence_tier.value} licence tier"
    violation = rule.violation(arguments)
    if violation:
        return violation
    if rule.max_calls_per_run is not None and scope.counts[(agent, tool)] >= rule.max_calls_per_run:
        return f"agent {agent!r} reached the cap of {rule.max_calls_per_run} call(s) to {tool!r} in this run"
    return None


async def _refuse(scope: ToolScope, call: ToolCall, agent: str, reason: str, risk: Risk, args_digest: str,
                  event: AuditEventType = AuditEventType.ACCESS_DENIED) -> ToolOutcome:
    seq = await scope.audit(event, agent, call.name, call, success=False, severity=AuditSeverity.WARNING,
                            error=reason, decision="deny", executed=False, risk=risk.value,
                            arguments_digest=args_digest)
    if scope.on_event is not None:
        await scope.emit("tool_decided", agent=agent, tool=call.name, call_id=call.id, decision="deny", reason=reason)
    content = f"error: the call to {call.name!r} was refused: {reason}"
    return ToolOutcome(call, "deny", False, False, content, reason, 0.0, seq)


CANCELLED_RUNNING = "cancelled: the run was stopped while the tool ran; it may have done some or all of its work"
CANCELLED_WAITING = "cancelled: the run was stopped before the call was decided; the tool did not run"


def _leaked(leak: SealedValue, agent: str) -> str:
    return (f"its arguments contain sealed data of agent {leak.owner!r} ({leak.level.value}) that agent {agent!r} "
            "may not pass on")


async def _record_cancelled(scope: ToolScope, agent: str, call: ToolCall, rule: ToolRule, args_digest: str, *,
                            executed: bool, **metadata: Any) -> None:
    """The one record of a call whose run was cancelled under it, written even if the run is cancelled again."""
    record = scope.audit(
        AuditEventType.ACTION_FAILED if executed else AuditEventType.ACCESS_DENIED, agent, call.name, call,
        success=False, severity=AuditSeverity.ERROR if executed else AuditSeverity.WARNING,
        error=CANCELLED_RUNNING if executed else CANCELLED_WAITING,
        decision=rule.decision.value if executed else "deny", executed=executed, risk=rule.risk.value,
        arguments_digest=args_digest, **metadata,
    )
    await asyncio.shield(record)  # a second cancel stops our wait, not the write


async def _approve(scope: ToolScope, tool: Tool, call: ToolCall, agent: str, args: dict[str, Any],
                   rule: ToolRule) -> str | None:
    """None when the approver grants the call, else why it is refused (no approver: refused, fail closed)."""
    if scope.approver is None:
        return f"tool {tool.name!r} needs approval and no approver is configured"
    request = ToolRequest(scope.tenant_id, scope.run_id, agent, tool.name, tool.description, args, rule.risk, call.id)
    failed = ""
    try:  # a durable approval that must wait for a person pauses the run here (a BaseException: not caught)
        answer = await scope.approver(request)
    except Exception as exc:  # an approver that fails refuses
        answer, failed = False, f"the approver failed ({type(exc).__name__})"
    if isinstance(answer, ApprovalDecision):
        granted = answer.granted is True  # fail closed: nothing but True grants
        reason = "" if granted else f"denied by {answer.approver!r}: {answer.reason or 'no reason given'}"
        if answer.audited:
            return reason or None
    else:
        granted = answer is True
        reason = "" if granted else failed or "the approver refused it"
    await scope.audit(AuditEventType.APPROVAL_GRANTED if granted else AuditEventType.APPROVAL_REJECTED, agent,
                      tool.name, call, success=granted, error=reason or None, risk=rule.risk.value,
                      severity=AuditSeverity.INFO if granted else AuditSeverity.WARNING)
    return None if granted else reason


async def _permit(scope: ToolScope, tool: str, rule: ToolRule) -> tuple[RateLimiter | None, str | None]:
    """A held rate-limit permit for the call (None when the rule sets no limit), or why none was given."""
    if rule.calls_per_minute is None or scope.limiter_for is None:
        return None, None
    limiter = await scope.limiter_for(tool, rule.calls_per_minute)
    try:
        admitted = await limiter.acquire()
    except RateLimitError as exc:
        return None, f"tool {tool!r} is rate-limited ({rule.calls_per_minute:g} calls/minute): {exc}"
    if not admitted:
        return None, f"tool {tool!r} is rate-limited ({rule.calls_per_minute:g} calls/minute)"
    return limiter, None


async def _run(scope: ToolScope, tool: Tool, args: dict[str, Any], rule: ToolRule) -> str:
    """The tool's result as (bounded) text; past the rule's timeout the call is cancelled (ToolTimeoutError)."""
    with tenant_scope(scope.tenant_id):  # a blocking function runs on the tenant's share of the tool threads
        if rule.timeout is None:
            result = await tool.handler(args)
        else:
            try:
                result = await scope.deadlines().run(tool.handler(args), rule.timeout)
            except TimeoutError:
                raise ToolTimeoutError(f"tool {tool.name!r} did not finish within {rule.timeout:g}s") from None
    return bounded(result_text(tool.name, result), scope.max_result_chars)


async def govern(scope: ToolScope, agent: AgentTools, call: ToolCall) -> ToolOutcome:
    """Run one requested call through the policy and, if allowed, the tool; always audited, never leaks."""
    name = call.name
    if scope.on_event is not None:
        await scope.emit("tool_requested", agent=agent.agent, tool=name, call_id=call.id)
    parsed, unusable = parse_arguments(call.arguments)
    args_digest = scope.digest(call.arguments if parsed is None else canonical(parsed))
    tool = agent.tools.get(name)
    if tool is None:
        given = ", ".join(sorted(agent.tools)) or "none"
        return await _refuse(scope, call, agent.agent, f"agent {agent.agent!r} was not given a tool named "
                             f"{name[:64]!r} (its tools: {given})", Risk.HIGH, args_digest)
    rule = scope.rules.get((agent.agent, name))
    if rule is None:  # the declaration narrowed by the tenant's policy, once per agent and tool in a run
        rule = scope.rules[(agent.agent, name)] = agent.rules.get(name, ToolRule()).narrowed(
            scope.policy.rule(agent.agent, name))
    sealed = tuple(scope.sealed())
    leak = sealed_leak(call.arguments, parsed, sealed, agent.agent, agent.level)
    if leak is not None:
        return await _refuse(scope, call, agent.agent, _leaked(leak, agent.agent), rule.risk, args_digest)
    try:
        if unusable is not None:
            raise ToolArgumentsError(f"tool {name!r}: {unusable}")
        check_text(name, call.arguments, parsed)
        args = tool.validate(parsed if parsed is not None else call.arguments)
    except ToolArgumentsError as exc:
        reason = bounded(str(exc), MAX_ERROR_CHARS)
        seq = await scope.audit(AuditEventType.ACTION_FAILED, agent.agent, name, call, success=False,
                                severity=AuditSeverity.WARNING, error=reason, decision="invalid_arguments",
                                executed=False, risk=rule.risk.value, arguments_digest=args_digest)
        if scope.on_event is not None:
            await scope.emit("tool_decided", agent=agent.agent, tool=name, call_id=call.id,
                             decision="invalid_arguments", reason=reason)
        return ToolOutcome(call, "invalid_arguments", False, False, f"error: {reason}; fix the arguments",
                           reason, 0.0, seq)
    if sealed:  # validation may have made the arguments into a sealed value ("4111_1111..." for an int)
        leak = sealed_leak("\x00".join(value_texts(args)), None, sealed, agent.agent, agent.level)
        if leak is not None:
            return await _refuse(scope, call, agent.agent, _leaked(leak, agent.agent), rule.risk, args_digest)
    refusal = _refusal(rule, scope, agent.agent, name, args)
    if refusal is not None:
        return await _refuse(scope, call, agent.agent, refusal, rule.risk, args_digest)
    key = (agent.agent, name)
    scope.counts[key] += 1  # reserved before any await, so parallel calls respect the cap
    limiter = None
    try:
        if rule.decision is Decision.CONFIRM:
            refusal = await _approve(scope, tool, call, agent.agent, args, rule)
        if refusal is None and rule.calls_per_minute is not None:  # no coroutine for the (common) unlimited tool
            limiter, refusal = await _permit(scope, name, rule)
    except asyncio.CancelledError:  # the run stopped while the call waited (for a person, for the rate limit)
        scope.counts[key] -= 1
        await _record_cancelled(scope, agent.agent, call, rule, args_digest, executed=False)
        raise
    if refusal is not None:
        scope.counts[key] -= 1
        return await _refuse(scope, call, agent.agent, refusal, rule.risk, args_digest)
    if scope.on_event is not None:
        await scope.emit("tool_decided", agent=agent.agent, tool=name, call_id=call.id, decision=rule.decision.value)
    try:
        return await _execute(scope, agent, tool, call, args, rule, args_digest)
    finally:
        if limiter is not None:
            limiter.release()


async def _execute(scope: ToolScope, agent: AgentTools, tool: Tool, call: ToolCall, args: dict[str, Any],
                   rule: ToolRule, args_digest: str) -> ToolOutcome:
    name, started = tool.name, time.perf_counter()
    if scope.mining is not None:
        scope.mining(f"tool:{name}", "start", 0, 0.0, {"agent": agent.agent, "call_id": call.id})
    error: BaseException | None = None
    try:
        with scope.telemetry.tool(name, call.id, args, description=tool.description) as span:
            content = await _run(scope, tool, args, rule)
            span.set_result(content)
    except (Exception, asyncio.TimeoutError) as exc:
        error = exc
        detail = str(exc) if isinstance(exc, ToolError) else f"tool {name!r} failed: {type(exc).__name__}: {exc}"
        content = "error: " + bounded(unicode_text(detail), MAX_ERROR_CHARS)
    except asyncio.CancelledError:  # the run's timeout, or a streaming client gone: the tool may have acted
        elapsed = (time.perf_counter() - started) * 1000
        _account(scope, agent.agent, elapsed, rule.price_per_call or 0.0)
        if scope.mining is not None:
            scope.mining(f"tool:{name}", "error", int(elapsed), rule.price_per_call or 0.0,
                         {"agent": agent.agent, "call_id": call.id, "error": CANCELLED_RUNNING})
        await _record_cancelled(scope, agent.agent, call, rule, args_digest, executed=True,
                                duration_ms=round(elapsed, 3))
        raise
    elapsed = (time.perf_counter() - started) * 1000
    price = rule.price_per_call or 0.0
    _account(scope, agent.agent, elapsed, price)
    ok = error is None
    message = None if ok else content[len("error: "):]
    decision = rule.decision.value
    seq = await scope.audit(
        AuditEventType.ACTION_COMPLETED if ok else AuditEventType.ACTION_FAILED, agent.agent, name, call,
        success=ok, severity=AuditSeverity.INFO if ok else AuditSeverity.ERROR, error=message,
        decision=decision, executed=True, risk=rule.risk.value, arguments_digest=args_digest,
        result_digest=scope.digest(content), duration_ms=round(elapsed, 3), price=price,
    )
    if scope.mining is not None:
        attributes = {"agent": agent.agent, "call_id": call.id}
        if message is not None:
            attributes["error"] = message[:500]
        scope.mining(f"tool:{name}", "complete" if ok else "error", int(elapsed), price, attributes)
    if scope.on_event is not None:
        await scope.emit("tool_finished", agent=agent.agent, tool=name, call_id=call.id, ok=ok,
                         duration_ms=elapsed, error=message)
    outcome = ToolOutcome(call, decision, True, ok, content, message, elapsed, seq, price)
    if not ok and rule.fail_run:
        raise ToolFailedError(f"tool {name!r} failed and its policy ends the run: {message}") from error
    return outcome


def _account(scope: ToolScope, agent: str, elapsed: float, price: float) -> None:
    if not scope.own_usage:
        return
    mine = scope.usage_by_agent.get(agent)
    if mine is None:
        mine = scope.usage_by_agent[agent] = ToolUsage()
    for usage in (scope.usage, mine):
        usage.calls += 1
        usage.duration_ms += elapsed
        if price:
            usage.cost = round(usage.cost + price, 10)


async def _one(scope: ToolScope, agent: AgentTools, index: int, call: ToolCall) -> ToolOutcome:
    if index >= MAX_CALLS_PER_TURN:
        return await _refuse(scope, call, agent.agent, f"more than {MAX_CALLS_PER_TURN} tool calls in one "
                             "answer; ask for fewer at a time", Risk.HIGH, "")
    return await govern(scope, agent, call)


async def _checkpointed(scope: ToolScope, step: CallStep, agent: AgentTools, index: int,
                        call: ToolCall) -> ToolOutcome:
    """One call as a checkpointed step; an outcome replayed from its checkpoint is counted as if it ran."""
    live = False

    async def body() -> ToolOutcome:
        nonlocal live
        live = True
        return await _one(scope, agent, index, call)

    outcome = await step(call, body)
    if not live and outcome.executed:  # replayed: the cap, usage and mining still see the call
        scope.counts[(agent.agent, call.name)] += 1
        _account(scope, agent.agent, outcome.duration_ms, outcome.price)
        if scope.mining is not None and scope.own_usage:
            scope.mining(f"tool:{call.name}", "complete" if outcome.ok else "error", int(outcome.duration_ms),
                         outcome.price, {"agent": agent.agent, "call_id": call.id, "replayed": True})
    return outcome


async def govern_all(scope: ToolScope, agent: AgentTools, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
    """Govern a turn's (parallel) calls concurrently; outcomes in the order the model asked.

    With ``scope.call_step`` (durable runs) the calls run one after another, each its own checkpointed step.
    """
    if scope.call_step is not None:
        step = scope.call_step
        return [await _checkpointed(scope, step, agent, i, call) for i, call in enumerate(calls)]
    if len(calls) == 1:
        return [await govern(scope, agent, calls[0])]
    gate = asyncio.Semaphore(MAX_CONCURRENT)

    async def one(index: int, call: ToolCall) -> ToolOutcome:
        async with gate:
            return await _one(scope, agent, index, call)

    results = await asyncio.gather(*(one(i, call) for i, call in enumerate(calls)), return_exceptions=True)
    for result in results:  # every call has finished (and been audited) before a failure ends the run
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if isinstance(r, ToolOutcome)]
