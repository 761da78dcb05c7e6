"""The model loop of one agent step: ask the model, govern the tool calls it requests, feed the results back.

Up to ``max_tool_rounds`` rounds of tool calls; every model call takes a rate-limit permit of the tenant and
provider and counts in usage; every tool call goes through :func:`llmteam.tools.govern_all` (policy, sealed
data, approval, rate limit, timeout, audit, mining). With a listener (``rt.stream``) the model's tokens are
published as they arrive when the provider streams.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmteam.llm import Completion, LLMProvider, Message, StreamingProvider, TextDelta, supports_tools
from llmteam.ratelimit import RateLimiter
from llmteam.team._errors import TeamConfigError, TeamError, ToolLoopError
from llmteam.team._result import ToolCallRecord
from llmteam.team._usage import PriceTable, Usage, completion_usage
from llmteam.tools import AgentTools, ToolScope, govern_all

if TYPE_CHECKING:
    from llmteam.team._result import RunResult


@dataclass(frozen=True)
class RunEvent:
    """Something that happened in a streamed run (``rt.stream``).

    ``kind`` is one of ``step_started``, ``token`` (``data["text"]``), ``tool_requested``, ``tool_decided``,
    ``tool_finished``, ``step_finished`` and, last, ``run_finished`` (with ``result``: the :class:`RunResult`).
    """

    kind: str
    run_id: str
    agent: str | None = None
    step: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    result: RunResult | None = None


Publish = Callable[[RunEvent], Awaitable[None]]
Once = Callable[[Callable[[], Awaitable[Completion]]], Awaitable[Completion]]


def no_tool_support(agent: str, llm: LLMProvider) -> str:
    """The error text for an agent with tools whose provider cannot call them."""
    return (f"agent {agent!r} has tools but its provider {llm!r} does not support tool calls (supports_tools is "
            "not True); use OpenAICompatible or ScriptedLLM, or remove the tools")


@dataclass
class LoopResult:
    """The final answer of a step, with the usage of all its model calls and tool calls."""

    completion: Completion
    model: str
    usage: Usage
    calls: list[ToolCallRecord]


async def _ask(llm: LLMProvider, messages: list[Message], tools: AgentTools, options: dict[str, Any],
               limiter: RateLimiter, publish: Callable[[str], Awaitable[None]] | None) -> Completion:
    specs = [tool.spec for tool in tools.tools.values()]
    kwargs: dict[str, Any] = {**options, "tools": specs} if specs else dict(options)
    # entering acquires and releases only a permit it holds; a FALLBACK refusal raises RateLimitExceeded
    async with limiter:
        if publish is None or not isinstance(llm, StreamingProvider):
            return await llm.complete(list(messages), **kwargs)
        final: Completion | None = None
        async for event in llm.stream(list(messages), **kwargs):
            if isinstance(event, TextDelta):
                await publish(event.text)
            else:
                final = event
        if final is None:
            raise TeamError(f"provider {llm!r} ended its stream without a final Completion")
        return final


async def converse(
    llm: LLMProvider, messages: list[Message], tools: AgentTools, scope: ToolScope, *, options: dict[str, Any],
    limiter: RateLimiter, prices: PriceTable, max_tool_rounds: int,
    publish: Callable[[str], Awaitable[None]] | None = None, once: Once | None = None,
) -> LoopResult:
    """Run the model loop of one step on ``messages`` (extended in place with the tool exchange).

    ``once`` runs each model call (a durable run makes each one a checkpointed step, replayed when resumed).
    """
    if tools.tools and not supports_tools(llm):
        raise TeamConfigError(no_tool_support(tools.agent, llm))
    total, calls = Usage(), list[ToolCallRecord]()
    for round_ in range(max_tool_rounds + 1):
        def ask() -> Awaitable[Completion]:
            return _ask(llm, messages, tools, options, limiter, publish)
        completion = await (ask() if once is None else once(ask))
        model, usage = completion_usage(prices, completion, llm.model)  # the requested model's price first
        total.add(usage)
        if not completion.tool_calls:
            return LoopResult(completion, model, total, calls)
        if round_ == max_tool_rounds:
            break
        messages.append(completion.to_message())
        for outcome in await govern_all(scope, tools, completion.tool_calls):
            messages.append(outcome.to_message())
            calls.append(ToolCallRecord(outcome.call.name[:64], outcome.call.id, outcome.decision, outcome.executed,
                                        outcome.ok, outcome.duration_ms, outcome.audit_sequence, outcome.error))
            if outcome.executed:
                total.tool_calls += 1
                total.tool_ms = round(total.tool_ms + outcome.duration_ms, 3)
                total.cost = round(total.cost + outcome.price, 10)
            if outcome.decision == "deny":
                total.tool_denied += 1
            elif not outcome.ok:
                total.tool_failed += 1
    raise ToolLoopError(
        f"agent {tools.agent!r} still asked for tools after max_tool_rounds={max_tool_rounds} rounds; raise "
        "Agent(max_tool_rounds=...) or tell the model to answer"
    )
