"""One run in flight: its private state, and the governed adapter the orchestrator calls for each agent step.

Each step: resolve the prompt's variables through the owners' context policies (the run's orchestrator is the
only viewer; agents never read each other directly), render the prompt, take a rate-limit permit for the
tenant and provider, call the model, account tokens and cost, store the output in the agent's
SecureAgentContext, buffer the process-mining events and append the step to the tenant's audit chain.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from llmteam.audit import AuditEventType, AuditQuery, AuditRecord, AuditSeverity, sensitive_digest
from llmteam.context import SecureAgentContext, SensitivityLevel, create_secure_context
from llmteam.llm import Completion, LLMProvider, Message, ToolCall
from llmteam.ratelimit import RateLimiter
from llmteam.roles import ProcessEvent
from llmteam.team._approval import Approvals, RunPaused
from llmteam.team._errors import ContextDeniedError, PromptVariableError
from llmteam.team._loop import LoopResult, Publish, RunEvent, converse
from llmteam.team._prompt import names_list, render
from llmteam.team._result import StepRecord
from llmteam.team._structured import Structured
from llmteam.team._usage import PriceTable, Usage
from llmteam.tools import AgentTools, SealedValue, ToolOutcome, ToolScope
from llmteam.tools._guard import sealed_texts

if TYPE_CHECKING:
    from llmteam.team._team import Agent, Team

HIDDEN = frozenset({SensitivityLevel.SECRET, SensitivityLevel.TOP_SECRET})
SEALED_MARK = "[SEALED]"
ORCHESTRATOR_ROLE = "pipeline_orch"

LimiterFor = Callable[[str, LLMProvider], Awaitable[RateLimiter]]
T = TypeVar("T")


class StepRunner:
    """Runs each side effect of a run (admission, model call, audit record, persistence) exactly as given.

    The in-process default just awaits ``effect()``. The durable layer (``llmteam.durable``) replaces it with a
    runner that checkpoints each result under ``name``, so a resumed run repeats no completed effect; ``find``
    returns the effect's result when it already happened (a crash after the write, before the checkpoint).
    ``checkpoints`` is True for such a runner: a turn's tool calls then run one after another, each a step.
    """

    checkpoints = False

    async def step(self, name: str, effect: Callable[[], Awaitable[T]],
                   find: Callable[[], Awaitable[T | None]] | None = None) -> T:
        """The result of ``effect()``; a durable runner returns the checkpointed one when ``name`` already ran."""
        return await effect()


def find_audit(trail: Any, run_id: str, event_type: AuditEventType,
               step_name: str | None = None) -> Callable[[], Awaitable[AuditRecord | None]]:
    """A ``find`` for :meth:`StepRunner.step`: the run's record of ``event_type`` (and ``step_name``), if written."""
    async def find() -> AuditRecord | None:
        records = await trail.query(AuditQuery(run_id=run_id, event_types=[event_type], limit=1000))
        for record in records:
            if step_name is None or record.step_name == step_name:
                return record  # type: ignore[no-any-return]
        return None
    return find


def sha256_text(text: str) -> str:
    """Hex SHA-256 of UTF-8 text (outputs are audited by digest, not content)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def output_digest(tenant_id: str, sensitivity: object, text: str, key: str) -> dict[str, str | None]:
    """How an output is fingerprinted in the audit log: ``{key: SHA-256}``, but for a SECRET/TOP_SECRET agent
    ``{key with "hmac_sha256": keyed per-tenant digest}`` (see :func:`llmteam.audit.sensitive_digest`), which a
    reader of the log cannot brute-force."""
    if sensitivity in HIDDEN:
        return {key.replace("sha256", "hmac_sha256"): sensitive_digest(tenant_id, text)}
    return {key: sha256_text(text)}


def provider_key(llm: LLMProvider) -> str:
    """A stable name for a provider endpoint: the unit of per-tenant rate limiting."""
    base = getattr(llm, "base_url", None) or type(llm).__name__
    return f"{base}|{llm.model}"


async def persist_once(steps: StepRunner, event_log: Any, run_store: Any, record: Any,
                       events: list[ProcessEvent]) -> None:
    """Write the run's mining events, then finish its run record: each once, even when re-executed."""
    tenant_id, run_id = record.tenant_id, record.run_id

    async def logged() -> int | None:
        return await event_log.count(tenant_id=tenant_id, case_id=run_id) or None

    async def finished() -> bool | None:
        found = await run_store.get(tenant_id, run_id)
        return None if found is None or found.status == "running" else True

    async def finish() -> bool:
        await run_store.finish(record)
        return True

    try:
        if events:
            await steps.step("events", lambda: event_log.append_many(events, tenant_id=tenant_id), logged)
    finally:
        await steps.step("finish", finish, finished)


@dataclass
class RunState:
    """Everything one run owns; nothing in it is shared with another run."""

    team: Team
    tenant_id: str
    run_id: str
    input: dict[str, Any]
    trail: Any
    prices: PriceTable
    limiter_for: LimiterFor
    orchestrator_id: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    contexts: dict[str, SecureAgentContext] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    usage_by_agent: dict[str, Usage] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    events: list[ProcessEvent] = field(default_factory=list)
    last_agent: str | None = None
    tools: ToolScope | None = None
    publish: Publish | None = None
    sealed: list[SealedValue] = field(default_factory=list)
    current_step: int = 0
    steps_runner: StepRunner = field(default_factory=StepRunner)
    gate: Approvals = field(default_factory=lambda: Approvals(None))
    inherited_before: int = 0
    tool_key: str = ""
    _counters: dict[tuple[str, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.orchestrator_id = f"{self.tenant_id}/{self.run_id}/orchestrator"
        for agent in self.team.agents:
            ctx = create_secure_context(
                f"{self.tenant_id}/{self.run_id}/{agent.name}", agent.name, sensitivity=agent.sensitivity  # type: ignore[arg-type]
            )
            ctx.access_policy.direct_orchestrator_id = self.orchestrator_id
            self.contexts[agent.name] = ctx

    def event(self, activity: str, lifecycle: str, duration_ms: int = 0, cost: float = 0.0,
              attributes: dict[str, Any] | None = None, resource: str | None = None, at: float | None = None) -> None:
        """Buffer one process-mining event for this run (written to the durable log when the run ends); ``at``:
        when it happened (epoch seconds; default now)."""
        when = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
        self.events.append(ProcessEvent(
            uuid.uuid4().hex, when, activity, resource or activity, self.run_id, lifecycle,
            duration_ms, cost, attributes or {},
        ))

    def step_name(self, kind: str) -> str:
        """The next checkpoint name of ``kind`` in the current agent step: ``model:3``, then ``model:3.2``..."""
        key = (kind, self.current_step)
        count = self._counters[key] = self._counters.get(key, 0) + 1
        return f"{kind}:{self.current_step}" if count == 1 else f"{kind}:{self.current_step}.{count}"

    async def once(self, effect: Callable[[], Awaitable[Completion]]) -> Completion:
        """One model call of the current step, as a step of the run's runner (checkpointed when durable)."""
        return await self.steps_runner.step(self.step_name("model"), effect)

    async def tool_step(self, call: ToolCall, effect: Callable[[], Awaitable[ToolOutcome]]) -> ToolOutcome:
        """One governed tool call as a checkpointed step; its name keys an approval it may wait for."""
        self.tool_key = self.step_name("tool")
        return await self.steps_runner.step(self.tool_key, effect)

    async def notify(self, kind: str, agent: str | None, data: dict[str, Any] | None = None) -> None:
        """Publish a run event to the stream listener, if there is one."""
        if self.publish is not None:
            await self.publish(RunEvent(kind, self.run_id, agent, self.current_step or None, data or {}))

    def tool_scope(self) -> ToolScope:
        """This run's tool scope (a deny-nothing-extra default when the runtime gave none)."""
        if self.tools is None:
            self.tools = ToolScope(self.tenant_id, self.run_id, self.team.name, self.trail)
        if self.tools.mining is None:  # first use in this run: connect the scope to the run
            if self.tools.on_event is None and self.publish is not None:
                async def forward(kind: str, data: dict[str, Any]) -> None:
                    await self.notify(kind, data.get("agent"), data)
                self.tools.on_event = forward
            self.tools.sealed = lambda: self.sealed
            self.tools.mining = self.event
            if self.steps_runner.checkpoints:
                self.tools.call_step = self.tool_step
            self.tools.approver = self.gate.for_tools(self, self.tools.approver)
        return self.tools

    async def variables(self, agent: Agent) -> dict[str, Any]:
        """The values of ``agent``'s prompt variables, each read under its owner's context policy."""
        values: dict[str, Any] = {}
        for name in agent.variables:
            if name in self.input:
                values[name] = self.input[name]
                continue
            owner = self.contexts.get(name)
            if owner is None:
                known = names_list([*self.input, *self.outputs])
                raise PromptVariableError(
                    f"agent {agent.name!r}: prompt variable {{{name}}} is neither a run input key nor an agent "
                    f"(known: {known}); pass {name!r} in the run input"
                )
            if name not in self.outputs:
                raise PromptVariableError(
                    f"agent {agent.name!r}: prompt variable {{{name}}} is the output of agent {name!r}, which has not "
                    "run before it in this run; route so that it runs first"
                )
            view = owner.get_visible_context(self.orchestrator_id, ORCHESTRATOR_ROLE)
            data = view.get("data") or {}
            if view.get("access") == "denied" or "output" not in data:
                reason = str(view.get("reason") or "the output is sealed")
                await self.trail.log_access_denied(agent.name, "agent_output", name, reason)
                raise ContextDeniedError(
                    f"agent {agent.name!r} may not see the output of agent {name!r} "
                    f"(sensitivity {owner.access_policy.sensitivity.value}: {reason}); remove {{{name}}} from "
                    f"its prompt or lower {name!r}'s sensitivity"
                )
            structured = self.team.agent(name).output_schema is not None
            values[name] = Structured(data["output"]) if structured else data["output"]
        return values


class GovernedAgent:
    """The object registered with the PipelineOrchestrator for one agent in one run."""

    def __init__(self, run: RunState, agent: Agent) -> None:
        self.run = run
        self.agent = agent
        self.name = agent.name
        self.llm = run.team.llm_for(agent)

    def get_state(self) -> dict[str, Any]:
        """What the orchestrator (and an LLM router) may see of this agent: its status only."""
        return {"status": self.run.contexts[self.name].status}

    async def process(self, state: dict[str, Any]) -> dict[str, Any]:
        """Run one governed step; returns the visible output to merge into the orchestrator state.

        In a retried run (``run.inherited_before``) the steps before that one replay the original run's
        checkpoints: they rebuild the state but count no usage and record no events of their own.
        """
        run, agent = self.run, self.agent
        ctx = run.contexts[agent.name]
        step = len(run.steps) + 1
        own = step >= run.inherited_before
        started = time.perf_counter()
        run.current_step = step
        ctx.update_status("running")
        if own:
            run.event(agent.name, "start", attributes={"step": step})
        await run.notify("step_started", agent.name)
        try:
            if agent.approval:
                await run.gate.agent(run, agent, step)
            values = await run.variables(agent)
            messages: list[Message] = []
            if agent.system is not None:
                messages.append({"role": "system", "content": render(agent.system, values, f"agent {agent.name!r}")})
            messages.append({"role": "user", "content": render(agent.prompt, values, f"agent {agent.name!r}")})
            limiter = await run.limiter_for(run.tenant_id, self.llm)
            scope = run.tool_scope()
            scope.own_usage = own

            async def token(text: str) -> None:
                await run.notify("token", agent.name, {"text": text})

            streamed = token if run.publish is not None and agent.sensitivity not in HIDDEN else None  # sealed: none

            async def ask(convo: list[Message], options: dict[str, Any]) -> LoopResult:
                return await converse(
                    self.llm, convo, AgentTools(agent.name, agent.sensitivity, agent.tool_map, agent.tool_rules),  # type: ignore[arg-type]
                    scope, options=options, limiter=limiter, prices=run.prices, max_tool_rounds=agent.max_tool_rounds,
                    publish=streamed, once=run.once,
                )

            if agent.output_schema is None:  # each model call and each tool call is a step of its own
                loop, value = await ask(messages, agent.options), None
            else:
                loop, value = await agent.output_schema.complete(self.llm, ask, messages, agent.options)
            if agent.output_schema is not None:
                run.values[agent.name] = value
        except RunPaused:  # not a failure: the run continues from its checkpoints once decided
            raise
        except BaseException as exc:
            elapsed = (time.perf_counter() - started) * 1000
            ctx.update_status("failed")
            ctx.increment_error_count()
            run.event(agent.name, "error", int(elapsed), attributes={"step": step, "error": str(exc)[:500]})
            message = f"{type(exc).__name__}: {exc}"[:1000]
            await run.steps_runner.step(f"audit:failed:{step}", lambda: run.trail.log(
                AuditEventType.AGENT_FAILED, severity=AuditSeverity.ERROR, action="respond", resource_type="agent",
                resource_id=agent.name, success=False, error_message=message,
                pipeline_id=run.team.name, run_id=run.run_id, agent_name=agent.name, step_name=str(step),
            ), find_audit(run.trail, run.run_id, AuditEventType.AGENT_FAILED, str(step)))
            raise
        text, model, usage = loop.completion.text, loop.model, loop.usage
        elapsed = (time.perf_counter() - started) * 1000
        if agent.sensitivity in HIDDEN:
            ctx.set_sealed("output", text)  # only the owner may read it back; never exported or shown to a viewer
            run.sealed.extend(SealedValue(agent.name, agent.sensitivity, part)  # the output and its fields
                              for part in sealed_texts(text, agent.output_schema is not None))
        else:
            ctx.set_data("output", text)
        ctx.last_action = "respond"
        ctx.update_status("completed")
        run.outputs[agent.name] = text
        run.last_agent = agent.name
        if own:
            run.usage.add(usage)
            run.usage_by_agent.setdefault(agent.name, Usage()).add(usage)
            run.models[agent.name] = model
            run.event(agent.name, "complete", int(elapsed), usage.cost, {
                "step": step, "model": model, "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens, "tool_calls": usage.tool_calls,
            })
        record = await run.steps_runner.step(f"audit:{step}", lambda: run.trail.log(
            AuditEventType.AGENT_COMPLETED, action="respond", resource_type="agent", resource_id=agent.name,
            new_value={**output_digest(run.tenant_id, agent.sensitivity, text, "output_sha256"),
                       "output_chars": len(text)},
            metadata={"model": model, "prompt_tokens": usage.prompt_tokens,
                      "completion_tokens": usage.completion_tokens, "cost": usage.cost if usage.priced else None,
                      "duration_ms": round(elapsed, 3), "model_calls": usage.requests,
                      "tool_calls": usage.tool_calls},
            pipeline_id=run.team.name, run_id=run.run_id, agent_name=agent.name, step_name=str(step),
        ), find_audit(run.trail, run.run_id, AuditEventType.AGENT_COMPLETED, str(step)))
        run.steps.append(StepRecord(step, agent.name, model, usage, elapsed, record.sequence_number, loop.calls))
        visible = SEALED_MARK if agent.sensitivity in HIDDEN else text
        await run.notify("step_finished", agent.name, {"model": model, "usage": usage.to_dict(),
                                                        "output": visible})
        return {agent.name: visible}
