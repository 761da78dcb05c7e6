"""The tool policy: per tenant and per agent, each tool is allowed, needs confirmation, or is denied.

A :class:`ToolRule` says what may happen when a tool is called: the decision, a risk level, the tenant features
and licence tier it needs, argument constraints, a per-run call cap, a timeout and a rate limit. Rules only
ever narrow: :meth:`ToolRule.narrowed` keeps the stricter of each setting, so a tenant's policy laid over a
team's declaration can deny, ask for confirmation or tighten a limit, but never widen what the team allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType
from typing import Any, Union

from llmteam.licensing import LicenseTier
from llmteam.tools._errors import ToolDefinitionError

Constraint = Union[Collection[Any], Callable[[Any], bool], "re.Pattern[str]"]
"""An argument constraint: the allowed values, a compiled regex the (text) value must fully match, or a predicate."""


class Decision(str, Enum):
    """What the policy decides for a call, from the least to the most restrictive."""

    ALLOW = "allow"
    CONFIRM = "confirm"
    DENY = "deny"


class Risk(str, Enum):
    """How much harm a tool can do; recorded with every call and shown to approvers."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


_DECISIONS = list(Decision)
_RISKS = list(Risk)
_TIERS = list(LicenseTier)


def _enum(kind: type[Enum], value: Any, what: str) -> Any:
    try:
        return kind(value.lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise ToolDefinitionError(f"{what} {value!r} is unknown; use one of {allowed}") from None


def _limit(value: Any, what: str, *, integer: bool = False) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ToolDefinitionError(f"{what}={value!r} must be a number >= 0 (or None for no limit)")
    if integer and not isinstance(value, int):
        raise ToolDefinitionError(f"{what}={value!r} must be an integer")
    return value


def _stricter(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _check_constraint(name: str, constraint: Any) -> None:
    if isinstance(constraint, (str, bytes)) or not (
        isinstance(constraint, (re.Pattern, Collection)) or callable(constraint)
    ):
        raise ToolDefinitionError(
            f"constraint on argument {name!r} is {constraint!r:.80}; give the allowed values (a set or list), "
            "a compiled regex or a predicate"
        )


@dataclass(frozen=True)
class ToolRule:
    """What may happen when one agent calls one tool (see the module docstring); every field only narrows."""

    decision: Decision = Decision.ALLOW
    risk: Risk = Risk.LOW
    features: frozenset[str] = frozenset()
    licence_tier: LicenseTier | None = None
    constraints: Mapping[str, tuple[Constraint, ...]] = field(default_factory=lambda: MappingProxyType({}))
    max_calls_per_run: int | None = None
    timeout: float | None = None
    calls_per_minute: float | None = None
    price_per_call: float | None = None
    fail_run: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "decision", _enum(Decision, self.decision, "decision"))
        set_(self, "risk", _enum(Risk, self.risk, "risk"))
        if isinstance(self.features, str):
            raise ToolDefinitionError(f"features={self.features!r} must be a collection of feature names")
        set_(self, "features", frozenset(self.features))
        if self.licence_tier is not None:
            set_(self, "licence_tier", _enum(LicenseTier, self.licence_tier, "licence_tier"))
        constraints: dict[str, tuple[Any, ...]] = {}
        for name, value in dict(self.constraints).items():
            values = value if isinstance(value, tuple) else (value,)
            for constraint in values:
                _check_constraint(name, constraint)
            constraints[str(name)] = values
        set_(self, "constraints", MappingProxyType(constraints))
        _limit(self.max_calls_per_run, "max_calls_per_run", integer=True)
        _limit(self.price_per_call, "price_per_call")
        for name in ("timeout", "calls_per_minute"):
            _limit(getattr(self, name), name)
            if getattr(self, name) == 0:
                raise ToolDefinitionError(f"{name}=0 is not a limit; use decision='deny' to forbid the tool")
        if not isinstance(self.fail_run, bool):
            raise ToolDefinitionError(f"fail_run={self.fail_run!r} must be True or False")

    @classmethod
    def of(cls, value: ToolRule | Decision | str | Mapping[str, Any]) -> ToolRule:
        """A rule from a rule, a decision (``"allow"``/``"confirm"``/``"deny"``) or a mapping of its fields."""
        if isinstance(value, ToolRule):
            return value
        if isinstance(value, (Decision, str)):
            return cls(decision=value)  # type: ignore[arg-type]
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise ToolDefinitionError(
                    f"tool rule has unknown field(s) {sorted(unknown)}; use {', '.join(cls.__dataclass_fields__)}"
                )
            return cls(**value)
        raise ToolDefinitionError(f"tool rule {value!r:.100} must be a ToolRule, 'allow'/'confirm'/'deny' or a mapping")

    def narrowed(self, other: ToolRule) -> ToolRule:
        """This rule tightened by ``other``: the stricter of every setting (nothing ``other`` says can widen it)."""
        tiers = [t for t in (self.licence_tier, other.licence_tier) if t is not None]
        merged = dict(self.constraints)
        for name, values in other.constraints.items():
            merged[name] = merged.get(name, ()) + values
        return replace(
            self,
            decision=max(self.decision, other.decision, key=_DECISIONS.index),
            risk=max(self.risk, other.risk, key=_RISKS.index),
            features=self.features | other.features,
            licence_tier=max(tiers, key=_TIERS.index) if tiers else None,
            constraints=merged,
            max_calls_per_run=_stricter(self.max_calls_per_run, other.max_calls_per_run),
            timeout=_stricter(self.timeout, other.timeout),
            calls_per_minute=_stricter(self.calls_per_minute, other.calls_per_minute),
            price_per_call=other.price_per_call if other.price_per_call is not None else self.price_per_call,
            fail_run=self.fail_run or other.fail_run,
        )

    def violation(self, arguments: Mapping[str, Any]) -> str | None:
        """Why ``arguments`` break a constraint (naming the argument), or None when they satisfy all of them."""
        for name, constraints in self.constraints.items():
            if name not in arguments:
                continue
            value = arguments[name]
            for constraint in constraints:
                if isinstance(constraint, re.Pattern):
                    ok = isinstance(value, str) and constraint.fullmatch(value) is not None
                elif callable(constraint):
                    try:
                        ok = bool(constraint(value))
                    except Exception:  # a constraint that cannot judge a value refuses it (fail closed)
                        ok = False
                else:
                    try:
                        ok = value in constraint
                    except TypeError:
                        ok = False
                if not ok:
                    return f"argument {name!r}={value!r:.80} is not allowed by the policy's constraint"
        return None


def _rules(value: Mapping[str, Any], what: str) -> dict[str, ToolRule]:
    if not isinstance(value, Mapping):
        raise ToolDefinitionError(f"{what} must be a mapping of tool name to rule, got {value!r:.100}")
    return {str(name): ToolRule.of(rule) for name, rule in value.items()}


class ToolPolicy:
    """One tenant's tool policy: a default rule, rules by tool name, and rules by agent then tool name.

    ``ToolPolicy({"send_email": "confirm", "delete_invoice": "deny"}, agents={"triage": {"*": "deny"}})``:
    the key ``"*"`` applies to every tool. The rule for a call is the default narrowed by the tool's rule,
    narrowed by the agent's rules; laid over the team's declaration it can only narrow it.
    """

    def __init__(
        self,
        tools: Mapping[str, Any] | None = None,
        *,
        agents: Mapping[str, Mapping[str, Any]] | None = None,
        default: ToolRule | Decision | str | Mapping[str, Any] = Decision.ALLOW,
    ) -> None:
        self.default = ToolRule.of(default)
        self.tools = _rules(tools or {}, "tools")
        if not isinstance(agents or {}, Mapping):
            raise ToolDefinitionError(f"agents must be a mapping of agent name to tool rules, got {agents!r:.100}")
        self.agents = {str(a): _rules(r, f"agents[{a!r}]") for a, r in (agents or {}).items()}

    def rule(self, agent: str, tool: str) -> ToolRule:
        """The rule for ``agent`` calling ``tool`` under this policy."""
        rule = self.default
        for table in (self.tools, self.agents.get(agent, {})):
            for key in ("*", tool):
                if key in table:
                    rule = rule.narrowed(table[key])
        return rule

    def __repr__(self) -> str:
        return f"ToolPolicy(tools={sorted(self.tools)}, agents={sorted(self.agents)})"
