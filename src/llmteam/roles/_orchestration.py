"""Orchestration primitives: decisions, the context a strategy sees, and the rule-based strategy."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

DECISION_TYPES = frozenset({"route", "retry", "escalate", "skip", "parallel", "end"})


class OrchestratorRole(Enum):
    """What an orchestrator-side component does."""

    ORCHESTRATION = "orchestration"
    PROCESS_MINING = "process_mining"


@dataclass
class OrchestrationDecision:
    """What to do next: ``decision_type`` is one of route, retry, escalate, skip, parallel, end."""

    decision_type: str
    target_agents: list[str]
    reason: str
    confidence: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrchestrationContext:
    """Everything a strategy may look at to decide the next step of one run."""

    current_step: str
    available_agents: list[str]
    agent_states: dict[str, dict[str, Any]]
    execution_history: list[dict[str, Any]]
    global_state: dict[str, Any]
    step_duration: timedelta = timedelta(0)
    retry_count: int = 0
    error_rate: float = 0.0


_NOT_FOUND: Any = object()


def step_context(
    step: str, agents: Mapping[str, Any], history: list[dict[str, Any]], state: dict[str, Any]
) -> OrchestrationContext:
    """The context of one orchestrator step (contract §7.3, step 1): the agents registered now and, for each, its
    ``get_state()`` (called now, before the strategy decides), or ``{"status": "available"}`` without one."""
    states: dict[str, dict[str, Any]] = {}
    for name, agent in agents.items():  # a plain loop: a comprehension adds a function call per step
        getter = getattr(agent, "get_state", _NOT_FOUND)
        states[name] = getter() if getter is not _NOT_FOUND else {"status": "available"}
    return OrchestrationContext(step, list(states), states, history, state)


class OrchestrationStrategy:
    """Base class of routing strategies: subclasses implement :meth:`decide`."""

    async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
        """Return the next decision for ``context``."""
        raise NotImplementedError(f"{type(self).__name__} must implement async decide(context)")


Rule = Callable[[OrchestrationContext], Any]


def default_sequence(context: OrchestrationContext) -> OrchestrationDecision:
    """The terminating default: route to the agent after ``current_step`` (or the first), else end."""
    agents = context.available_agents
    step = context.current_step
    index = agents.index(step) + 1 if step in agents else 0
    if index < len(agents):
        return OrchestrationDecision("route", [agents[index]], "default_sequence", 1.0)
    return OrchestrationDecision("end", [], "no_more_agents", 1.0)


class RuleBasedStrategy(OrchestrationStrategy):
    """Rules tried in insertion order; the first non-None decision wins, else the agents are walked once."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def add_rule(self, rule: Rule) -> RuleBasedStrategy:
        """Append ``rule(context) -> OrchestrationDecision | None`` (may be async); returns self for chaining."""
        if not callable(rule):
            raise TypeError(f"rule {rule!r} is not callable; pass a function taking an OrchestrationContext")
        self.rules.append(rule)
        return self

    async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
        """The first rule's non-None decision, else the default terminating sequence."""
        for rule in self.rules:
            decision = rule(context)
            if inspect.isawaitable(decision):
                decision = await decision
            if decision is not None:
                if not isinstance(decision, OrchestrationDecision):
                    raise TypeError(
                        f"rule {rule!r} returned {decision!r}; return an OrchestrationDecision or None"
                    )
                return decision
        return default_sequence(context)
