"""ToolRule and ToolPolicy: decisions, limits and constraints that only ever narrow."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.licensing import LicenseTier
from llmteam.tools import Decision, Risk, ToolDefinitionError, ToolPolicy, ToolRule

ORDER = [Decision.ALLOW, Decision.CONFIRM, Decision.DENY]
RISKS = list(Risk)
TIERS = list(LicenseTier)

limits = st.none() | st.integers(min_value=1, max_value=50)
rules = st.builds(
    ToolRule,
    decision=st.sampled_from(ORDER),
    risk=st.sampled_from(RISKS),
    features=st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=2),
    licence_tier=st.none() | st.sampled_from(TIERS),
    constraints=st.dictionaries(st.sampled_from(["x", "y"]), st.frozensets(st.integers(0, 5), max_size=4),
                                max_size=2),
    max_calls_per_run=limits,
    timeout=st.none() | st.floats(min_value=0.1, max_value=10),
    calls_per_minute=st.none() | st.floats(min_value=1, max_value=100),
    fail_run=st.booleans(),
)


def _not_wider(narrow: ToolRule, base: ToolRule) -> None:
    assert ORDER.index(narrow.decision) >= ORDER.index(base.decision)
    assert RISKS.index(narrow.risk) >= RISKS.index(base.risk)
    assert narrow.features >= base.features
    if base.licence_tier is not None:
        assert narrow.licence_tier is not None and TIERS.index(narrow.licence_tier) >= TIERS.index(base.licence_tier)
    for name in ("max_calls_per_run", "timeout", "calls_per_minute"):
        b, n = getattr(base, name), getattr(narrow, name)
        if b is not None:
            assert n is not None and n <= b
    assert narrow.fail_run >= base.fail_run


@settings(max_examples=200, deadline=None)
@given(rules, rules, st.dictionaries(st.sampled_from(["x", "y", "z"]), st.integers(0, 6), max_size=3))
def test_narrowing_never_widens_either_side(base: ToolRule, tenant: ToolRule, arguments: dict[str, int]) -> None:
    merged = base.narrowed(tenant)
    _not_wider(merged, base)
    _not_wider(merged, tenant)
    # arguments the merged rule accepts are accepted by both rules
    if merged.violation(arguments) is None:
        assert base.violation(arguments) is None and tenant.violation(arguments) is None


def test_policy_lays_default_tool_and_agent_rules_over_each_other() -> None:
    policy = ToolPolicy(
        {"*": {"timeout": 5.0}, "send_email": "confirm", "drop_table": "deny"},
        agents={"triage": {"*": {"max_calls_per_run": 2}}, "writer": {"send_email": {"risk": "high"}}},
        default={"risk": "medium"},
    )
    assert policy.rule("answer", "lookup") == ToolRule(risk=Risk.MEDIUM, timeout=5.0)
    assert policy.rule("answer", "send_email").decision is Decision.CONFIRM
    assert policy.rule("answer", "drop_table").decision is Decision.DENY
    assert policy.rule("triage", "lookup").max_calls_per_run == 2
    writer = policy.rule("writer", "send_email")
    assert (writer.decision, writer.risk, writer.timeout) == (Decision.CONFIRM, Risk.HIGH, 5.0)
    # an agent rule saying "allow" cannot undo the tenant-wide deny
    assert ToolPolicy({"drop_table": "deny"}, agents={"a": {"drop_table": "allow"}}).rule("a", "drop_table").decision \
        is Decision.DENY


def test_constraints_allowed_values_regex_and_predicates() -> None:
    rule = ToolRule(constraints={"amount": lambda v: v <= 100, "currency": {"EUR", "USD"},
                                 "iban": re.compile(r"NO\d{4}")})
    assert rule.violation({"amount": 50, "currency": "EUR", "iban": "NO1234"}) is None
    assert "argument 'amount'=500" in str(rule.violation({"amount": 500}))
    assert "argument 'currency'='GBP'" in str(rule.violation({"currency": "GBP"}))
    assert "iban" in str(rule.violation({"iban": "NO1234x"}))
    # a predicate that cannot judge the value refuses it
    assert rule.violation({"amount": "lots"}) is not None
    # unhashable value against a set refuses rather than raising
    assert rule.violation({"currency": ["EUR"]}) is not None


@pytest.mark.parametrize("kwargs, fragment", [
    ({"decision": "maybe"}, "decision 'maybe' is unknown"),
    ({"risk": "extreme"}, "risk 'extreme' is unknown"),
    ({"licence_tier": "gold"}, "licence_tier 'gold' is unknown"),
    ({"features": "abc"}, "collection of feature names"),
    ({"max_calls_per_run": -1}, "max_calls_per_run=-1"),
    ({"max_calls_per_run": 1.5}, "must be an integer"),
    ({"timeout": 0}, "timeout=0 is not a limit"),
    ({"calls_per_minute": float("nan")}, "calls_per_minute=nan"),
    ({"constraints": {"x": "abc"}}, "constraint on argument 'x'"),
    ({"fail_run": "yes"}, "fail_run='yes'"),
])
def test_bad_rules_are_refused_with_the_value_named(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ToolDefinitionError, match=re.escape(fragment)):
        ToolRule(**kwargs)


def test_rule_of_accepts_names_and_mappings_only() -> None:
    assert ToolRule.of("DENY").decision is Decision.DENY
    assert ToolRule.of({"risk": "critical"}).risk is Risk.CRITICAL
    with pytest.raises(ToolDefinitionError, match="unknown field"):
        ToolRule.of({"decisoin": "deny"})
    with pytest.raises(ToolDefinitionError, match="must be a ToolRule"):
        ToolRule.of(3)  # type: ignore[arg-type]
    with pytest.raises(ToolDefinitionError, match="agents must be a mapping"):
        ToolPolicy(agents=["a"])  # type: ignore[arg-type]
