"""ContextAccessPolicy: the seven ordered rules, check_access, mutators, bad input, and a hypothesis oracle."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.context import (
    ContextAccessPolicy,
    ContextAccessResult,
    SensitivityLevel,
    VisibilityLevel,
)

S = SensitivityLevel


def test_defaults_and_fresh_sets() -> None:
    a, b = ContextAccessPolicy(), ContextAccessPolicy()
    assert a.default_visibility is VisibilityLevel.ORCHESTRATOR and a.sensitivity is S.INTERNAL
    assert (a.audit_access, a.encrypt_sealed, a.direct_orchestrator_id) == (False, False, None)
    a.denied_viewers.add("x")
    assert b.denied_viewers == set()
    positional = ContextAccessPolicy(VisibilityLevel.SELF_ONLY, {"d"}, {"a"}, {"f"}, S.PUBLIC, True, True, "o")
    assert positional.direct_orchestrator_id == "o" and positional.sealed_fields == {"f"}


def test_rule1_agents_forbidden_even_when_allowed() -> None:
    p = ContextAccessPolicy(sensitivity=S.PUBLIC, allowed_viewers={"a2"})
    ok, reason = p.can_access("a2", "agent")
    assert not ok and "forbidden" in reason


def test_rule2_sealed_field() -> None:
    p = ContextAccessPolicy(sealed_fields={"ssn"})
    ok, reason = p.can_access("orch", "pipeline_orch", "ssn")
    assert not ok and "sealed" in reason and "ssn" in reason
    assert p.can_access("orch", "pipeline_orch", "name") == (True, "Access granted")


def test_rule3_denied_and_allowed_override() -> None:
    p = ContextAccessPolicy(denied_viewers={"orch"})
    ok, reason = p.can_access("orch", "pipeline_orch")
    assert not ok and "explicitly denied" in reason
    p.allow_access_to("orch")
    assert p.can_access("orch", "pipeline_orch")[0]


@pytest.mark.parametrize("level", [S.SECRET, S.TOP_SECRET])
@pytest.mark.parametrize("role", ["pipeline_orch", "group_orch", "system"])
def test_rule4_secret_denies_everyone(level: S, role: str) -> None:
    p = ContextAccessPolicy(sensitivity=level, allowed_viewers={"v"})
    assert not p.can_access("v", role)[0]


def test_rule5_confidential() -> None:
    p = ContextAccessPolicy(sensitivity=S.CONFIDENTIAL)
    assert p.can_access("any", "pipeline_orch")[0]
    assert p.can_access("any", "system")[0]
    assert not p.can_access("any", "group_orch")[0]
    assert not p.can_access("any", "")[0]
    p.direct_orchestrator_id = "boss"
    assert p.can_access("boss", "pipeline_orch")[0]
    ok, reason = p.can_access("other", "pipeline_orch")
    assert not ok and "direct orchestrator" in reason
    assert not p.can_access("boss", "group_orch")[0]
    assert p.can_access("sys", "system")[0]


@pytest.mark.parametrize("role", ["", "unknown", "Agent", "PIPELINE_ORCH", " system", "admin"])
def test_rule6_unknown_or_empty_role_denied(role: str) -> None:
    p = ContextAccessPolicy(sensitivity=S.PUBLIC)
    ok, reason = p.can_access("v", role)
    assert not ok and "Unknown viewer role" in reason


@pytest.mark.parametrize("role", ["pipeline_orch", "group_orch", "system"])
def test_rule7_granted(role: str) -> None:
    assert ContextAccessPolicy().can_access("v", role) == (True, "Access granted")


def test_check_access_base_denied_lists_requested() -> None:
    p = ContextAccessPolicy()
    res = p.check_access("a", "agent", {"x", "y"})
    assert res == ContextAccessResult(False, res.reason, set(), {"x", "y"})
    assert "forbidden" in res.reason
    none = p.check_access("a", "agent")
    assert none.fields_denied == set() and not none.allowed


def test_check_access_per_field() -> None:
    p = ContextAccessPolicy(sealed_fields={"ssn"})
    res = p.check_access("o", "pipeline_orch", {"ssn", "name"})
    assert not res.allowed and res.fields_granted == {"name"} and res.fields_denied == {"ssn"}
    assert "ssn" in res.reason
    ok = p.check_access("o", "pipeline_orch", {"name"})
    assert ok.allowed and ok.fields_granted == {"name"} and ok.fields_denied == set()
    assert p.check_access("o", "pipeline_orch").allowed


def test_check_access_does_not_keep_callers_set() -> None:
    fields = {"a"}
    res = ContextAccessPolicy().check_access("a", "agent", fields)
    res.fields_denied.add("zzz")
    assert fields == {"a"}


def test_mutators() -> None:
    p = ContextAccessPolicy()
    p.deny_access_to("x")
    p.seal_field("f")
    p.set_sensitivity(S.SECRET)
    assert p.denied_viewers == {"x"} and p.sealed_fields == {"f"} and p.sensitivity is S.SECRET
    p.unseal_field("f")
    p.unseal_field("never")
    assert p.sealed_fields == set()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sensitivity": "secret"}, "sensitivity must be a SensitivityLevel.*'secret'"),
        ({"default_visibility": 1}, "default_visibility must be a VisibilityLevel"),
        ({"denied_viewers": "bob"}, "denied_viewers must be a set.*'bob'"),
        ({"audit_access": "yes"}, "audit_access must be a bool.*'yes'"),
        ({"direct_orchestrator_id": 7}, "direct_orchestrator_id must be a str.*7"),
    ],
)
def test_bad_construction_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        ContextAccessPolicy(**kwargs)  # type: ignore[arg-type]


def test_bad_assignment_and_calls_named() -> None:
    p = ContextAccessPolicy()
    with pytest.raises(TypeError, match="'top_secret'"):
        p.sensitivity = "top_secret"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="'top_secret'"):
        p.set_sensitivity("top_secret")  # type: ignore[arg-type]
    assert p.sensitivity is S.INTERNAL
    with pytest.raises(TypeError, match="viewer_id must be a str.*None"):
        p.can_access(None, "system")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="viewer_role must be a str.*42"):
        p.can_access("v", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="field_name must be a str"):
        p.can_access("v", "system", 3)  # type: ignore[arg-type]
    p.denied_viewers = ["a", "b"]  # type: ignore[assignment]
    assert p.denied_viewers == {"a", "b"}


# --- property test: an independent oracle of the seven rules ------------------------------------------------

IDS = st.sampled_from(["", "a", "b", "orch", "boss", "sys", "x y"])
ROLES = st.one_of(
    st.sampled_from(["agent", "pipeline_orch", "group_orch", "system", "", "unknown", "Agent", "system "]),
    st.text(max_size=8),
)
FIELDS = st.one_of(st.none(), st.sampled_from(["", "ssn", "name", "key"]))
ID_SETS = st.sets(IDS, max_size=4)


def oracle(p: ContextAccessPolicy, viewer: str, role: str, field: str | None) -> tuple[bool, str]:
    """The contract's rules, written independently of the implementation."""
    if role == "agent":
        return False, "forbidden"
    if field is not None and field in p.sealed_fields:
        return False, "sealed"
    if viewer in p.denied_viewers and viewer not in p.allowed_viewers:
        return False, "denied"
    if p.sensitivity.value in ("secret", "top_secret"):
        return False, "secret"
    if p.sensitivity.value == "confidential":
        if role == "system":
            return True, ""
        if role != "pipeline_orch":
            return False, "confidential"
        if p.direct_orchestrator_id is not None and viewer != p.direct_orchestrator_id:
            return False, "confidential"
        return True, ""
    if role not in ("pipeline_orch", "group_orch", "system"):
        return False, "role"
    return True, ""


@settings(max_examples=200, deadline=None)
@given(
    viewer=IDS,
    role=ROLES,
    field=FIELDS,
    sensitivity=st.sampled_from(list(S)),
    denied=ID_SETS,
    allowed=ID_SETS,
    sealed=st.sets(st.sampled_from(["ssn", "key", ""]), max_size=3),
    direct=st.one_of(st.none(), IDS),
)
def test_policy_matches_oracle(
    viewer: str,
    role: str,
    field: str | None,
    sensitivity: S,
    denied: set[str],
    allowed: set[str],
    sealed: set[str],
    direct: str | None,
) -> None:
    p = ContextAccessPolicy(
        denied_viewers=denied,
        allowed_viewers=allowed,
        sealed_fields=sealed,
        sensitivity=sensitivity,
        direct_orchestrator_id=direct,
    )
    expected, why = oracle(p, viewer, role, field)
    ok, reason = p.can_access(viewer, role, field)
    assert ok is expected, (reason, why)
    if why == "forbidden":
        assert "forbidden" in reason
    if why == "sealed":
        assert "sealed" in reason
    if ok:
        assert reason == "Access granted"
    result = p.check_access(viewer, role, {field} if field is not None else None)
    base_ok = oracle(p, viewer, role, None)[0]
    assert result.allowed is (base_ok and (field is None or oracle(p, viewer, role, field)[0]))
    assert not (result.fields_granted & result.fields_denied)


def test_str_enum_roles_and_ids_compare_by_value() -> None:
    from enum import Enum

    class Role(str, Enum):
        ORCH = "pipeline_orch"
        AGENT = "agent"

    class Viewer(str, Enum):
        BOB = "bob"

    p = ContextAccessPolicy(denied_viewers={"bob"})
    assert p.can_access("x", Role.ORCH) == (True, "Access granted")
    assert "forbidden" in p.can_access("x", Role.AGENT)[1]
    assert "explicitly denied" in p.can_access(Viewer.BOB, Role.ORCH)[1]
