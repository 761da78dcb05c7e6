"""The team's routing strategy: declared routes first, an LLM router as fallback, then the agents in order.

It is a ``roles.RuleBasedStrategy`` whose rules are the team's :class:`Route` objects followed (when the team
has a ``router``) by a ``roles.LLMBasedStrategy`` rule that abstains on unparsable answers. A wrapper checks
every decision: a target that is not an agent raises :class:`RoutingError` instead of silently ending the run,
and more than ``max_steps`` decisions raise :class:`StepLimitError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmteam.roles import (
    LLMBasedStrategy,
    OrchestrationContext,
    OrchestrationDecision,
    OrchestrationStrategy,
    RuleBasedStrategy,
)
from llmteam.team._errors import RoutingError, StepLimitError

if TYPE_CHECKING:
    from llmteam.team._team import Route, Team

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


def build_strategy(team: Team) -> RuleBasedStrategy:
    """The team's rules (routes, then the LLM router if any) on a RuleBasedStrategy."""
    strategy = RuleBasedStrategy()
    for route in team.routes:
        strategy.add_rule(_route_rule(route))
    if team.router is not None:
        strategy.add_rule(_llm_rule(LLMBasedStrategy(team.router, team.router_prompt)))
    return strategy


class CheckedStrategy(OrchestrationStrategy):
    """Wraps a strategy for one run: unknown targets raise RoutingError, too many decisions StepLimitError."""

    def __init__(self, inner: OrchestrationStrategy, team: Team) -> None:
        self.inner = inner
        self.team = team
        self.decisions = 0

    async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
        self.decisions += 1
        if self.decisions > self.team.max_steps:
            raise StepLimitError(
                f"team {self.team.name!r} took more than max_steps={self.team.max_steps} routing decisions "
                f"(last step {context.current_step!r}); a route loops: add an 'end' route or raise limits.max_steps"
            )
        decision = await self.inner.decide(context)
        if decision.decision_type not in _KNOWN_TYPES:
            raise RoutingError(
                f"team {self.team.name!r}: the strategy returned unknown decision {decision.decision_type!r} "
                f"after {context.current_step!r}"
            )
        for target in decision.target_agents:
            if target not in context.available_agents:
                raise RoutingError(
                    f"team {self.team.name!r}: after {context.current_step!r} the strategy routed to {target!r} "
                    f"({decision.reason}), which is not an agent; agents are: {', '.join(context.available_agents)}"
                )
        return decision
