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
    """Everything a strategy may look at to decide the next step of one run.

    In a context the orchestrator builds, ``agent_states`` is read from the step's agents when first accessed
    (see :func:`step_context`); otherwise every field is plain.
    """

    current_step: str
    available_agents: list[str]
    agent_states: dict[str, dict[str, Any]]
    execution_history: list[dict[str, Any]]
    global_state: dict[str, Any]
    step_duration: timedelta = timedelta(0)
    retry_count: int = 0
    error_rate: float = 0.0


_NOT_FOUND: Any = object()


class _AgentStates:
    """The ``agent_states`` of one orchestrator step, not read yet: the step's agents, whose states are read (each
    ``get_state()``, or ``{"status": "available"}`` without one) when the context's field is first read.

    The dict read is kept here too, so copies of a context made before that read share it as they share any field.
    """

    __slots__ = ("agents", "states")

    def __init__(self, agents: dict[str, Any]) -> None:
        self.agents = agents
        self.states: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]]:
        if self.states is None:
            self.states = {
                name: getter() if (getter := getattr(agent, "get_state", _NOT_FOUND)) is not _NOT_FOUND
                else {"status": "available"}
                for name, agent in self.agents.items()
            }
        return self.states


_UNREAD = "_unread_agent_states"  # where step_context keeps a context's _AgentStates until the field is read


class _AgentStatesField:
    """``OrchestrationContext.agent_states`` for a context :func:`step_context` built, until first read.

    A non-data descriptor: a context's own value (set by ``__init__`` or by assignment, in its instance dict) always
    wins, at plain attribute speed. step_context takes the field out of the instance dict and leaves an
    :class:`_AgentStates` beside it; the first read puts the dict it stands for back in the field's place.
    """

    def __get__(self, ctx: object, owner: type | None = None) -> dict[str, dict[str, Any]]:
        if ctx is None:  # class access: a field without a class-level default, as before
            raise AttributeError("type object 'OrchestrationContext' has no attribute 'agent_states'")
        fields = ctx.__dict__
        unread = fields.get(_UNREAD)
        if not isinstance(unread, _AgentStates):
            raise AttributeError(f"{type(ctx).__name__!r} object has no attribute 'agent_states'")
        states = fields["agent_states"] = unread.read()
        del fields[_UNREAD]
        return states


# Installed after @dataclass built the class: in the class body it would read as the field's default value.
setattr(OrchestrationContext, "agent_states", _AgentStatesField())  # noqa: B010


def step_context(
    step: str, agents: Mapping[str, Any], history: list[dict[str, Any]], state: dict[str, Any]
) -> OrchestrationContext:
    """The context of one orchestrator step (contract §7.3, step 1) over the agents registered now.

    Its ``agent_states`` is read from those agents when the strategy (or anyone) first reads it, once: a strategy
    that never looks at the states does not pay for reading every agent's state at every step.
    """
    registered = dict(agents)  # the step's agents, whatever is registered or unregistered later
    ctx = OrchestrationContext(step, list(registered), {}, history, state)
    fields = ctx.__dict__
    del fields["agent_states"]  # read through _AgentStatesField until then
    fields[_UNREAD] = _AgentStates(registered)
    return ctx


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
    if step in agents:
        index = agents.index(step) + 1
        nxt = agents[index] if index < len(agents) else None
    else:
        nxt = agents[0] if agents else None
    if nxt is not None:
        return OrchestrationDecision("route", [nxt], "default_sequence", 1.0)
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
