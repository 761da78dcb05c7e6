"""The team's routing strategy: declared routes first, an LLM router as fallback, then the agents in order.

It is a ``roles.RuleBasedStrategy`` whose rules are the team's :class:`Route` objects followed (when the team
has a ``router``) by a ``roles.LLMBasedStrategy`` rule that abstains on unparsable answers. A wrapper checks
every decision: a target that is not an agent, or one named twice in a decision, raises :class:`RoutingError`
instead of silently ending the run or running it twice; more than ``max_steps`` decisions, or a decision that
would take the run past ``max_steps`` agent steps (each target of a decision is one step), raise
:class:`StepLimitError` before any of its agents runs.

The router model is called through :class:`GovernedRouter`, like an agent's: rate-limited per tenant and
provider, billed to the run (as ``ROUTER`` in ``usage_by_agent``) and audited (ACTION_COMPLETED / ACTION_FAILED,
``resource_type="router"``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from llmteam._repr import bounded_repr
from llmteam.audit import AuditEventType, AuditSeverity
from llmteam.llm import Completion, LLMProvider, Message
from llmteam.roles import (
    LLMBasedStrategy,
    OrchestrationContext,
    OrchestrationDecision,
    OrchestrationStrategy,
    RuleBasedStrategy,
)
from llmteam.team._errors import RoutingError, StepLimitError
from llmteam.team._usage import Usage, completion_usage

if TYPE_CHECKING:
    from llmteam.team._run import RunState
    from llmteam.team._team import Route, Team

ROUTER = "(router)"

_KNOWN_TYPES = frozenset({"route", "retry", "end", "skip", "escalate", "parallel"})


def _route_rule(route: Route) -> Any:
    def rule(ctx: OrchestrationContext) -> OrchestrationDecision | None:
        if not route.matches(ctx.current_step, ctx.global_state):
            return None
        reason = f"route:{route.after}->{route.to}" + (f" ({route.contains!r})" if route.contains else "")
        if route.to == "end":
            return OrchestrationDecision("end", [], reason, 1.0)
        return OrchestrationDecision("route", [route.to], reason, 1.0)

    return rule


def _llm_rule(strategy: LLMBasedStrategy) -> Any:
    async def rule(ctx: OrchestrationContext) -> OrchestrationDecision | None:
        decision = await strategy.decide(ctx)
        if decision.reason == "llm_parse_error" or (decision.decision_type == "route" and not decision.target_agents):
            return None  # abstain: the default sequence decides
        return decision

    return rule


class GovernedRouter:
    """The team's router model inside one run: each call limited, billed and audited like an agent's step."""

    def __init__(self, run: RunState, llm: LLMProvider) -> None:
        self.run = run
        self.llm = llm
        self.model = llm.model

    async def generate(self, prompt: str, **options: Any) -> str:
        """The router's answer to ``prompt`` (what LLMBasedStrategy asks)."""
        return (await self.complete([{"role": "user", "content": prompt}], **options)).text

    async def complete(self, messages: list[Message], **options: Any) -> Completion:
        """One governed completion: rate limit, call, bill to the run, audit."""
        run = self.run
        started = time.perf_counter()
        try:
            limiter = await run.limiter_for(run.tenant_id, self.llm)
            async with limiter:
                completion = await self.llm.complete(messages, **options)
        except BaseException as exc:
            await run.trail.log(
                AuditEventType.ACTION_FAILED, severity=AuditSeverity.ERROR, action="route", resource_type="router",
                resource_id=self.model, success=False, error_message=f"{type(exc).__name__}: {exc}"[:1000],
                pipeline_id=run.team.name, run_id=run.run_id, agent_name=ROUTER,
            )
            raise
        model, usage = completion_usage(run.prices, completion, self.llm.model)
        run.usage.add(usage)
        run.usage_by_agent.setdefault(ROUTER, Usage()).add(usage)
        run.models[ROUTER] = model
        await run.trail.log(
            AuditEventType.ACTION_COMPLETED, action="route", resource_type="router", resource_id=model,
            metadata={"model": model, "prompt_tokens": usage.prompt_tokens,
                      "completion_tokens": usage.completion_tokens, "cost": usage.cost if usage.priced else None,
                      "duration_ms": round((time.perf_counter() - started) * 1000, 3)},
            pipeline_id=run.team.name, run_id=run.run_id, agent_name=ROUTER,
        )
        return completion


def build_strategy(team: Team, run: RunState | None = None) -> RuleBasedStrategy:
    """The team's rules (routes, then the LLM router if any) on a RuleBasedStrategy.

    With ``run``, the router model is called through :class:`GovernedRouter` for that run.
    """
    strategy = RuleBasedStrategy()
    for route in team.routes:
        strategy.add_rule(_route_rule(route))
    if team.router is not None:
        router: Any = team.router if run is None else GovernedRouter(run, team.router)
        strategy.add_rule(_llm_rule(LLMBasedStrategy(router, team.router_prompt)))
    return strategy


class CheckedStrategy(OrchestrationStrategy):
    """Wraps a strategy for one run: unknown or repeated targets raise RoutingError; too many decisions, or
    targets that would run more than ``max_steps`` agent steps, StepLimitError (before any of them runs)."""

    def __init__(self, inner: OrchestrationStrategy, team: Team) -> None:
        self.inner = inner
        self.team = team
        self.decisions = 0
        self.steps = 0

    async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
        team = self.team
        self.decisions += 1
        if self.decisions > team.max_steps:
            raise StepLimitError(
                f"team {team.name!r} took more than max_steps={team.max_steps} routing decisions "
                f"(last step {context.current_step!r}); a route loops: add an 'end' route or raise limits.max_steps"
            )
        decision = await self.inner.decide(context)
        if decision.decision_type not in _KNOWN_TYPES:
            raise RoutingError(
                f"team {team.name!r}: the strategy returned unknown decision {bounded_repr(decision.decision_type)} "
                f"after {context.current_step!r}"
            )
        targets = decision.target_agents
        for target in targets:
            if target not in context.available_agents:
                raise RoutingError(
                    f"team {team.name!r}: after {context.current_step!r} the strategy routed to "
                    f"{bounded_repr(target)} ({str(decision.reason)[:200]}), which is not an agent; agents are: "
                    f"{', '.join(context.available_agents)}"
                )
        if decision.decision_type == "route" and targets:
            if len(set(targets)) != len(targets):
                raise RoutingError(
                    f"team {team.name!r}: after {context.current_step!r} the strategy named an agent more than once "
                    f"in one decision ({len(targets)} targets, {len(set(targets))} distinct); route to each agent "
                    "once per decision"
                )
            self.steps += len(targets)
            if self.steps > team.max_steps:
                raise StepLimitError(
                    f"team {team.name!r}: after {context.current_step!r} the strategy routed to {len(targets)} "
                    f"agent(s), which would take the run to {self.steps} agent steps, more than "
                    f"max_steps={team.max_steps}; route to fewer agents or raise limits.max_steps"
                )
        return decision
