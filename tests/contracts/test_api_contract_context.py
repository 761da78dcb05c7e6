"""Acceptance tests for API contract §5 (llmteam.context), written from the contract text only."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import pickle
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

import llmteam.context as cx
from llmteam.context import (
    ROLE_AGENT,
    ROLE_GROUP_ORCH,
    ROLE_PIPELINE_ORCH,
    ROLE_SYSTEM,
    SENSITIVITY_VISIBILITY_MAP,
    ContextAccessError,
    ContextAccessPolicy,
    ContextAccessResult,
    ContextManager,
    ContextPropagationConfig,
    ContextScope,
    HierarchicalContext,
    SealedData,
    SealedDataAccessError,
    SecureAgentContext,
    SensitivityLevel,
    VisibilityLevel,
    create_secure_context,
    get_visibility_for_sensitivity,
    is_visibility_allowed,
)

S = SensitivityLevel
V = VisibilityLevel


def test_exports_and_light_import() -> None:
    names = {"VisibilityLevel", "SensitivityLevel", "SENSITIVITY_VISIBILITY_MAP", "get_visibility_for_sensitivity",
             "is_visibility_allowed", "ROLE_AGENT", "ROLE_PIPELINE_ORCH", "ROLE_GROUP_ORCH", "ROLE_SYSTEM",
             "ContextAccessPolicy", "ContextAccessResult", "SealedData", "ContextAccessError",
             "SealedDataAccessError", "SecureAgentContext", "create_secure_context", "ContextScope",
             "HierarchicalContext", "ContextPropagationConfig", "ContextManager"}
    assert names <= set(cx.__all__)
    code = (
        "import sys, llmteam.context\n"
        "bad = [m for m in ('cryptography', 'asyncpg', 'redis', 'httpx') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- 5.1 ------------------------------------------------------------------------------------------------


def test_levels_and_roles() -> None:
    assert [(v.name, v.value) for v in V] == [
        ("SELF_ONLY", "self_only"), ("ORCHESTRATOR", "orchestrator"), ("HIERARCHY", "hierarchy")]
    assert [(s.name, s.value) for s in S] == [
        ("PUBLIC", "public"), ("INTERNAL", "internal"), ("CONFIDENTIAL", "confidential"), ("SECRET", "secret"),
        ("TOP_SECRET", "top_secret")]
    assert (ROLE_AGENT, ROLE_PIPELINE_ORCH, ROLE_GROUP_ORCH, ROLE_SYSTEM) == (
        "agent", "pipeline_orch", "group_orch", "system")
    assert dict(SENSITIVITY_VISIBILITY_MAP) == {
        S.PUBLIC: V.HIERARCHY, S.INTERNAL: V.ORCHESTRATOR, S.CONFIDENTIAL: V.ORCHESTRATOR,
        S.SECRET: V.SELF_ONLY, S.TOP_SECRET: V.SELF_ONLY}
    for s in S:
        assert get_visibility_for_sensitivity(s) is SENSITIVITY_VISIBILITY_MAP[s]


@pytest.mark.parametrize(
    ("requested", "sensitivity", "allowed"),
    [
        (V.HIERARCHY, S.INTERNAL, False),  # the contract's example
        (V.ORCHESTRATOR, S.INTERNAL, True),
        (V.SELF_ONLY, S.INTERNAL, True),
        (V.HIERARCHY, S.PUBLIC, True),
        (V.ORCHESTRATOR, S.SECRET, False),
        (V.SELF_ONLY, S.TOP_SECRET, True),
        (V.HIERARCHY, S.CONFIDENTIAL, False),
    ],
)
def test_is_visibility_allowed(requested: VisibilityLevel, sensitivity: SensitivityLevel, allowed: bool) -> None:
    assert is_visibility_allowed(requested, sensitivity) is allowed


# --- 5.2 policy -----------------------------------------------------------------------------------------


def test_policy_fields_and_defaults() -> None:
    assert [f.name for f in dataclasses.fields(ContextAccessPolicy)] == [
        "default_visibility", "denied_viewers", "allowed_viewers", "sealed_fields", "sensitivity", "audit_access",
        "encrypt_sealed", "direct_orchestrator_id"]
    p = ContextAccessPolicy()
    assert p.default_visibility is V.ORCHESTRATOR and p.sensitivity is S.INTERNAL
    assert p.denied_viewers == set() and p.allowed_viewers == set() and p.sealed_fields == set()
    assert p.audit_access is False and p.encrypt_sealed is False and p.direct_orchestrator_id is None
    q = ContextAccessPolicy()
    p.sealed_fields.add("x")
    assert q.sealed_fields == set()
    pos = ContextAccessPolicy(V.HIERARCHY, {"d"}, {"a"}, {"s"}, S.PUBLIC, True, False, "orch")
    assert pos.direct_orchestrator_id == "orch" and pos.sensitivity is S.PUBLIC and "s" in pos.sealed_fields


def test_rule_1_agents_forbidden_first() -> None:
    p = ContextAccessPolicy(sensitivity=S.PUBLIC, allowed_viewers={"a2"}, sealed_fields={"f"})
    ok, reason = p.can_access("a2", ROLE_AGENT, "f")
    assert ok is False and reason == "Horizontal access between agents is forbidden"
    assert "forbidden" in reason


def test_rule_2_sealed_field() -> None:
    p = ContextAccessPolicy(sensitivity=S.PUBLIC, sealed_fields={"api_key"})
    ok, reason = p.can_access("o", ROLE_SYSTEM, "api_key")
    assert ok is False and reason == "Field 'api_key' is sealed" and "sealed" in reason
    assert p.can_access("o", ROLE_SYSTEM, "other") == (True, "Access granted")
    assert p.can_access("o", ROLE_SYSTEM) == (True, "Access granted")


def test_rule_3_denied_and_allowed_override() -> None:
    p = ContextAccessPolicy()
    p.deny_access_to("orch-x")
    ok, reason = p.can_access("orch-x", ROLE_PIPELINE_ORCH)
    assert ok is False and "explicitly denied" in reason
    p.allow_access_to("orch-x")
    assert p.can_access("orch-x", ROLE_PIPELINE_ORCH) == (True, "Access granted")
    assert "orch-x" in p.denied_viewers and "orch-x" in p.allowed_viewers


@pytest.mark.parametrize("level", [S.SECRET, S.TOP_SECRET])
@pytest.mark.parametrize("role", [ROLE_PIPELINE_ORCH, ROLE_GROUP_ORCH, ROLE_SYSTEM])
def test_rule_4_owner_only(level: SensitivityLevel, role: str) -> None:
    p = ContextAccessPolicy(sensitivity=level, allowed_viewers={"v"})
    ok, _ = p.can_access("v", role)
    assert ok is False


def test_rule_5_confidential() -> None:
    p = ContextAccessPolicy(sensitivity=S.CONFIDENTIAL)
    assert p.can_access("o1", ROLE_PIPELINE_ORCH)[0]
    assert p.can_access("sys", ROLE_SYSTEM)[0]
    assert not p.can_access("g", ROLE_GROUP_ORCH)[0]
    assert not p.can_access("x", "auditor")[0]
    d = ContextAccessPolicy(sensitivity=S.CONFIDENTIAL, direct_orchestrator_id="o1")
    assert d.can_access("o1", ROLE_PIPELINE_ORCH) == (True, "Access granted")
    assert not d.can_access("o2", ROLE_PIPELINE_ORCH)[0]
    assert d.can_access("o2", ROLE_SYSTEM)[0]


@pytest.mark.parametrize("role", ["", "admin", "Agent", "PIPELINE_ORCH", "user"])
def test_rule_6_unknown_role(role: str) -> None:
    ok, reason = ContextAccessPolicy(sensitivity=S.PUBLIC).can_access("v", role)
    assert ok is False and reason.startswith("Unknown viewer role")


@pytest.mark.parametrize("role", [ROLE_PIPELINE_ORCH, ROLE_GROUP_ORCH, ROLE_SYSTEM])
@pytest.mark.parametrize("level", [S.PUBLIC, S.INTERNAL])
def test_rule_7_granted(role: str, level: SensitivityLevel) -> None:
    assert ContextAccessPolicy(sensitivity=level).can_access("v", role) == (True, "Access granted")


def test_policy_mutators() -> None:
    p = ContextAccessPolicy()
    p.seal_field("f")
    assert "f" in p.sealed_fields
    p.unseal_field("f")
    assert "f" not in p.sealed_fields
    p.unseal_field("never")
    p.set_sensitivity(S.SECRET)
    assert p.sensitivity is S.SECRET


def test_check_access() -> None:
    r = ContextAccessResult(True, "ok")
    assert r.fields_granted == set() and r.fields_denied == set()
    assert [f.name for f in dataclasses.fields(ContextAccessResult)] == [
        "allowed", "reason", "fields_granted", "fields_denied"]
    p = ContextAccessPolicy(sealed_fields={"secret"})
    res = p.check_access("o", ROLE_PIPELINE_ORCH, {"a", "secret"})
    assert isinstance(res, ContextAccessResult)
    assert res.allowed is False and res.fields_granted == {"a"} and res.fields_denied == {"secret"}
    ok = p.check_access("o", ROLE_PIPELINE_ORCH, {"a", "b"})
    assert ok.allowed is True and ok.fields_granted == {"a", "b"} and ok.fields_denied == set()
    assert p.check_access("o", ROLE_PIPELINE_ORCH).allowed is True
    base = p.check_access("a2", ROLE_AGENT, {"a", "b"})
    assert base.allowed is False and base.fields_denied == {"a", "b"} and "forbidden" in base.reason


# --- 5.3 SealedData -----------------------------------------------------------------------------------


def test_sealed_data() -> None:
    before = datetime.now()
    s = SealedData("sk-123", owner_id="agent-1")
    assert s.get("agent-1") == "sk-123"
    assert s.is_owner("agent-1") and not s.is_owner("agent-2")
    with pytest.raises(SealedDataAccessError) as info:
        s.get("agent-2")
    assert isinstance(info.value, PermissionError) and isinstance(info.value, ContextAccessError)
    assert info.value.owner_id == "agent-1" and info.value.requester_id == "agent-2"
    assert "sk-123" not in str(info.value)
    assert repr(s) == "SealedData(owner_id='agent-1', [REDACTED])"
    assert str(s) == "[SEALED]" and "sk-123" not in f"{s}"
    assert before <= s.created_at <= datetime.now()
    kw = SealedData(_data={"a": 1}, owner_id="o", encryption_key_id="k1", created_at=datetime(2020, 1, 1))
    assert kw.get("o") == {"a": 1} and kw.created_at == datetime(2020, 1, 1)


def test_sealed_data_not_a_dataclass_field_nor_copyable_nor_picklable() -> None:
    s = SealedData("topsecret", owner_id="o")
    assert "topsecret" not in repr(s)
    if dataclasses.is_dataclass(s):
        assert "_data" not in {f.name for f in dataclasses.fields(s)}
    assert "topsecret" not in str(vars(s) if hasattr(s, "__dict__") else "")
    with pytest.raises(TypeError):
        pickle.dumps(s)
    assert copy.copy(s) is s and copy.deepcopy(s) is s
    assert copy.deepcopy({"x": s})["x"] is s
    with pytest.raises(AttributeError):
        s._data = "other"  # type: ignore[misc]  # read-only if present


def test_context_access_error() -> None:
    e = ContextAccessError("nope", viewer_id="v", field_name="f")
    assert isinstance(e, Exception) and (e.viewer_id, e.field_name) == ("v", "f") and "nope" in str(e)
    e2 = ContextAccessError("m")
    assert (e2.viewer_id, e2.field_name) == ("", "")
    s = SealedDataAccessError("o", "r", "f")
    assert isinstance(s, PermissionError) and isinstance(s, ContextAccessError)
    assert (s.owner_id, s.requester_id) == ("o", "r")
    assert SealedDataAccessError("o", "r").requester_id == "r"


# --- 5.4 SecureAgentContext ---------------------------------------------------------------------------


def test_secure_context_fields_defaults() -> None:
    assert [f.name for f in dataclasses.fields(SecureAgentContext)][:13] == [
        "agent_id", "agent_name", "confidence", "status", "error_count", "last_action", "reasoning_steps",
        "sources", "messages", "data", "access_policy", "created_at", "updated_at"]
    c = SecureAgentContext("a1", "Agent One")
    assert (c.confidence, c.status, c.error_count, c.last_action) == (0.0, "idle", 0, "")
    assert c.reasoning_steps == [] and c.sources == [] and c.messages == [] and c.data == {}
    assert isinstance(c.access_policy, ContextAccessPolicy)
    d = SecureAgentContext("a2", "Two")
    c.reasoning_steps.append("x")
    c.data["k"] = 1
    c.access_policy.seal_field("z")
    assert d.reasoning_steps == [] and d.data == {} and d.access_policy.sealed_fields == set()
    c.status = "running"
    c.confidence = 0.5
    c.access_policy = ContextAccessPolicy(sensitivity=S.PUBLIC)
    assert c.access_policy.sensitivity is S.PUBLIC
    pos = SecureAgentContext("a3", "Three", 0.9, "running", 2, "act")
    assert pos.confidence == 0.9 and pos.last_action == "act"
    assert "sk" not in {f.name for f in dataclasses.fields(SecureAgentContext)}


def test_sealed_values_on_context() -> None:
    c = SecureAgentContext("a1", "A")
    before = c.updated_at
    c.set_sealed("api_key", "sk-xyz")
    assert c.updated_at >= before
    assert "api_key" in c.access_policy.sealed_fields
    assert c.has_sealed("api_key") and not c.has_sealed("nope")
    assert c.list_sealed_keys() == ["api_key"]
    assert c.get_sealed("api_key", "a1") == "sk-xyz"
    with pytest.raises(SealedDataAccessError):
        c.get_sealed("api_key", "a2")
    with pytest.raises(PermissionError):
        c.get_sealed("api_key", "a2")
    with pytest.raises(KeyError):
        c.get_sealed("missing", "a1")
    assert "sk-xyz" not in repr(c) and "sk-xyz" not in str(c)
    assert "sk-xyz" not in str(dataclasses.asdict(c))
    assert "sk-xyz" not in str(c.to_dict())
    with pytest.raises(PermissionError):
        c.delete_sealed("api_key", "intruder")
    assert c.has_sealed("api_key")
    c.delete_sealed("missing", "intruder")  # no-op when missing
    c.delete_sealed("api_key", "a1")
    assert not c.has_sealed("api_key") and "api_key" not in c.access_policy.sealed_fields
    c.set_sealed("enc", 1, encrypt=True)
    assert c.get_sealed("enc", "a1") == 1


def test_get_visible_context_allowed() -> None:
    c = SecureAgentContext("a1", "A", access_policy=ContextAccessPolicy(sensitivity=S.INTERNAL))
    c.update_status("running")
    c.update_confidence(0.7)
    c.add_reasoning_step("step1")
    c.add_source("doc1")
    c.set_data("public_k", 1)
    c.set_sealed("token", "sk-1")
    c.set_data("token", "should-not-leak")
    v = c.get_visible_context("orch", ROLE_PIPELINE_ORCH)
    assert set(v) == {"agent_id", "agent_name", "status", "confidence", "error_count", "last_action",
                      "updated_at", "reasoning_steps", "sources", "data", "sealed_fields"}
    assert v["status"] == "running" and v["confidence"] == 0.7 and v["updated_at"] == c.updated_at.isoformat()
    assert v["reasoning_steps"] == ["step1"] and v["sources"] == ["doc1"]
    v["reasoning_steps"].append("mutated")
    assert c.reasoning_steps == ["step1"]
    assert v["data"] == {"public_k": 1}
    assert v["sealed_fields"] == ["token"]
    assert "token" not in v and "sk-1" not in str(v) and "should-not-leak" not in str(v)


def test_get_visible_context_confidential_and_empty_data() -> None:
    c = SecureAgentContext("a1", "A", access_policy=ContextAccessPolicy(sensitivity=S.CONFIDENTIAL))
    c.add_reasoning_step("r")
    v = c.get_visible_context("sys", ROLE_SYSTEM)
    assert "reasoning_steps" not in v and "sources" not in v
    assert "data" not in v  # only if non-empty
    assert v["sealed_fields"] == []


def test_get_visible_context_denied() -> None:
    c = SecureAgentContext("a1", "A")
    v = c.get_visible_context("a2", ROLE_AGENT)
    assert v == {"agent_id": "a1", "agent_name": "A", "access": "denied",
                 "reason": "Horizontal access between agents is forbidden"}


def test_context_delegates_and_mutators() -> None:
    c = SecureAgentContext("a1", "A")
    c.deny_access_to("o")
    assert not c.check_access("o", ROLE_PIPELINE_ORCH).allowed
    c.allow_access_to("o")
    assert c.check_access("o", ROLE_PIPELINE_ORCH, {"x"}).allowed
    c.set_sensitivity(S.SECRET)
    assert c.access_policy.sensitivity is S.SECRET
    t0 = c.updated_at
    c.update_confidence(5.0)
    assert c.confidence == 1.0
    c.update_confidence(-1)
    assert c.confidence == 0.0
    c.add_message({"role": "user", "content": "hi"})
    c.increment_error_count()
    c.increment_error_count()
    c.set_data("k", "v")
    assert c.messages == [{"role": "user", "content": "hi"}] and c.error_count == 2
    assert c.get_data("k") == "v" and c.get_data("nope") is None and c.get_data("nope", 3) == 3
    assert c.updated_at >= t0


def test_to_dict() -> None:
    c = create_secure_context("a1", "A", sensitivity=S.PUBLIC, audit_access=False)
    c.set_sealed("k", "sv")
    d = c.to_dict()
    assert set(d) == {"agent_id", "agent_name", "confidence", "status", "error_count", "last_action",
                      "reasoning_steps", "sources", "messages", "data", "created_at", "updated_at",
                      "access_policy"}
    assert "_sealed" not in d
    assert d["created_at"] == c.created_at.isoformat() and d["updated_at"] == c.updated_at.isoformat()
    assert d["access_policy"] == {"default_visibility": "orchestrator", "sensitivity": "public",
                                  "sealed_fields": ["k"], "audit_access": False}
    # Issue 11 item 10 (hardening over §5's to_dict row): a sealed export names its requester, the owner.
    with pytest.raises(PermissionError):
        c.to_dict(include_sealed=True)
    assert c.to_dict(include_sealed=True, requester_id="a1")["_sealed"] == {"k": "sv"}
    with pytest.raises(PermissionError):
        c.to_dict(include_sealed=True, requester_id="a2")
    with pytest.raises(PermissionError):
        c.to_dict(requester_id="a2")


def test_create_secure_context() -> None:
    c = create_secure_context("a1", "A", S.CONFIDENTIAL, {"pw"}, True)
    assert isinstance(c, SecureAgentContext)
    assert c.access_policy.sensitivity is S.CONFIDENTIAL and c.access_policy.sealed_fields == {"pw"}
    assert c.access_policy.audit_access is True
    assert not c.access_policy.can_access("o", ROLE_PIPELINE_ORCH, "pw")[0]
    d = create_secure_context("a2", "B")
    assert d.access_policy.sensitivity is S.INTERNAL and d.access_policy.sealed_fields == set()


class _Trail:
    """A stand-in audit trail recording every log call."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, dict[str, Any]]] = []

    async def log(self, event_type: Any, **kwargs: Any) -> Any:
        self.events.append((event_type, kwargs))
        return None


async def _drain(ctx: SecureAgentContext) -> None:
    flush = getattr(ctx, "flush_audit", None)
    if flush is not None:
        await flush()
    for _ in range(10):
        await asyncio.sleep(0)


async def test_sealed_access_audited_success_and_denial() -> None:
    from llmteam.audit import AuditEventType

    trail = _Trail()
    c = create_secure_context("a1", "A", audit_access=True, audit_trail=trail)
    c.set_sealed("k", "v")
    c.get_sealed("k", "a1")
    with pytest.raises(PermissionError):
        c.get_sealed("k", "a2")
    await _drain(c)
    kinds = [e for e, _ in trail.events]
    assert AuditEventType.SEALED_DATA_ACCESSED in kinds and AuditEventType.ACCESS_DENIED in kinds
    assert "'v'" not in str(trail.events)


async def test_private_audit_trail_keyword_and_export_audited() -> None:
    trail = _Trail()
    c = SecureAgentContext("a1", "A", _audit_trail=trail)
    c.set_sealed("k", "v")
    c.to_dict(include_sealed=True, requester_id="a1")
    await _drain(c)
    assert trail.events, "an include_sealed export must be audited when a trail is set"


def test_audit_hooks_never_raise_without_loop() -> None:
    trail = _Trail()
    c = create_secure_context("a1", "A", audit_access=True, audit_trail=trail)
    c.set_sealed("k", "v")
    assert c.get_sealed("k", "a1") == "v"
    with pytest.raises(SealedDataAccessError):
        c.get_sealed("k", "a2")
    c.to_dict(include_sealed=True, requester_id="a1")
    c.get_visible_context("o", ROLE_PIPELINE_ORCH)


# --- 5.5 hierarchy -----------------------------------------------------------------------------------


def test_context_scope_and_hierarchical_defaults() -> None:
    assert [(s.name, s.value) for s in ContextScope] == [("AGENT", "agent"), ("PIPELINE", "pipeline"),
                                                         ("GROUP", "group")]
    assert [f.name for f in dataclasses.fields(HierarchicalContext)] == [
        "scope", "owner_id", "parent_id", "data", "children", "secure_context", "created_at", "updated_at",
        "access_count"]
    h = HierarchicalContext(ContextScope.PIPELINE, "p1")
    assert h.parent_id is None and h.data == {} and h.children == {} and h.secure_context is None
    assert h.access_count == 0
    h2 = HierarchicalContext(ContextScope.PIPELINE, "p2")
    h.data["x"] = 1
    assert h2.data == {}


def test_children_and_summary() -> None:
    parent = HierarchicalContext(ContextScope.PIPELINE, "p")
    child = HierarchicalContext(ContextScope.AGENT, "a")
    parent.set_child_context("a", child)
    assert parent.get_child_context("a") is child and child.parent_id == "p"
    assert parent.get_child_context("zz") is None
    s = parent.get_summary()
    assert s == {"scope": "pipeline", "owner_id": "p", "children_count": 1,
                 "updated_at": parent.updated_at.isoformat(), "access_count": 0}
    parent.data["k"] = [1]
    d = parent.to_dict()
    assert d == {"scope": "pipeline", "owner_id": "p", "parent_id": None, "data": {"k": [1]},
                 "children_count": 1, "created_at": parent.created_at.isoformat(),
                 "updated_at": parent.updated_at.isoformat(), "access_count": 0}
    d["data"]["new"] = 1
    assert "new" not in parent.data
    parent.remove_child_context("a")
    parent.remove_child_context("a")
    assert parent.get_child_context("a") is None


def test_get_visible_children() -> None:
    parent = HierarchicalContext(ContextScope.PIPELINE, "p")
    secure = create_secure_context("a1", "A")
    secure.set_sealed("tok", "sv")
    parent.set_child_context("a1", HierarchicalContext(ContextScope.AGENT, "a1", secure_context=secure))
    parent.set_child_context("plain", HierarchicalContext(ContextScope.AGENT, "plain"))
    secret = create_secure_context("a2", "B", sensitivity=S.SECRET)
    parent.set_child_context("a2", HierarchicalContext(ContextScope.AGENT, "a2", secure_context=secret))
    view = parent.get_visible_children("orch", ROLE_PIPELINE_ORCH)
    assert parent.access_count == 1
    assert view["a1"] == secure.get_visible_context("orch", ROLE_PIPELINE_ORCH)
    assert view["plain"] == parent.children["plain"].get_summary()
    assert view["a2"]["access"] == "denied" and set(view["a2"]) == {"access", "reason"}
    assert "sv" not in str(view)
    agent_view = parent.get_visible_children("a9", ROLE_AGENT)
    assert agent_view["a1"] == {"access": "denied", "reason": "Horizontal access between agents is forbidden"}
    assert parent.access_count == 2


def test_propagation_config() -> None:
    c = ContextPropagationConfig()
    assert c.propagate_up == ["status", "confidence", "error_count"]
    assert c.propagate_down == ["global_config", "shared_state"]
    assert c.aggregation_rules == {"confidence": "avg", "error_count": "sum", "status": "worst"}
    other = ContextPropagationConfig()
    c.propagate_up.append("x")
    assert other.propagate_up == ["status", "confidence", "error_count"]
    c = ContextPropagationConfig()
    c.add_propagate_up("cost", "sum")
    assert "cost" in c.propagate_up and c.get_aggregation_rule("cost") == "sum"
    c.add_propagate_up("cost", "max")
    assert c.propagate_up.count("cost") == 1 and c.get_aggregation_rule("cost") == "max"
    c.add_propagate_up("note")
    assert c.get_aggregation_rule("note") == "last"
    c.remove_propagate_up("cost")
    assert "cost" not in c.propagate_up and "cost" not in c.aggregation_rules
    assert c.get_aggregation_rule("cost") == "last"
    c.add_propagate_down("cfg")
    c.add_propagate_down("cfg")
    assert c.propagate_down.count("cfg") == 1
    c.remove_propagate_down("cfg")
    assert "cfg" not in c.propagate_down
    c.set_aggregation_rule("confidence", "min")
    assert c.get_aggregation_rule("confidence") == "min"
    pos = ContextPropagationConfig(["a"], ["b"], {"a": "max"})
    assert pos.get_aggregation_rule("a") == "max"


def test_manager_create_get_link_remove() -> None:
    m = ContextManager()
    assert isinstance(m.config, ContextPropagationConfig)
    cfg = ContextPropagationConfig()
    assert ContextManager(cfg).config is cfg
    g = m.create_context(ContextScope.GROUP, "g")
    p = m.create_context(ContextScope.PIPELINE, "p", parent_id="g")
    a = m.create_context(ContextScope.AGENT, "a", "p", create_secure_context("a", "A"))
    assert isinstance(a, HierarchicalContext) and a.secure_context is not None
    assert m.get_context("p") is p and m.get_context("none") is None
    assert g.get_child_context("p") is p and p.get_child_context("a") is a and a.parent_id == "p"
    orphan = m.create_context(ContextScope.AGENT, "o", parent_id="unregistered")
    assert orphan.parent_id == "unregistered"
    all_ = m.get_all_contexts()
    assert set(all_) == {"g", "p", "a", "o"}
    all_.clear()
    assert m.get_context("g") is g
    assert set(m.get_root_contexts()) == {"g"}
    m.remove_context("p")
    assert m.get_context("p") is None and m.get_context("a") is None
    assert g.get_child_context("p") is None
    m.remove_context("p")
    assert set(m.get_all_contexts()) == {"g", "o"}


def _tree(cfg: ContextPropagationConfig | None = None) -> tuple[ContextManager, HierarchicalContext,
                                                                list[HierarchicalContext]]:
    m = ContextManager(cfg)
    parent = m.create_context(ContextScope.PIPELINE, "p")
    kids = [m.create_context(ContextScope.AGENT, f"a{i}", parent_id="p") for i in range(3)]
    return m, parent, kids


def test_propagate_up_default_rules_idempotent() -> None:
    m, parent, kids = _tree()
    for k, (status, conf, errs) in zip(kids, [("running", 0.2, 1), ("failed", 0.4, 2), ("completed", 0.9, 0)],
                                       strict=True):
        k.data.update(status=status, confidence=conf, error_count=errs)
    before = parent.updated_at
    m.propagate_up("a0")
    assert parent.data == {"status": "failed", "confidence": pytest.approx(0.5), "error_count": 3}
    assert parent.updated_at >= before
    snapshot = dict(parent.data)
    m.propagate_up("a0")
    m.propagate_up("a1")
    m.propagate_up("a2")
    assert parent.data == snapshot  # idempotent, no helper keys
    kids[1].data["status"] = "idle"
    m.propagate_up("a1")
    assert parent.data["status"] == "completed"


def test_propagate_up_only_present_fields_and_other_rules() -> None:
    cfg = ContextPropagationConfig(propagate_up=[], propagate_down=[], aggregation_rules={})
    cfg.add_propagate_up("mx", "max")
    cfg.add_propagate_up("mn", "min")
    cfg.add_propagate_up("lst", "last")
    cfg.add_propagate_up("s", "sum")
    m, parent, kids = _tree(cfg)
    kids[0].data.update(mx=1, mn=5, lst="first", s=2)
    kids[1].data.update(mx=7, mn=3, lst="second")
    m.propagate_up("a0")
    assert parent.data == {"mx": 7, "mn": 3, "lst": "first", "s": 2}
    m.propagate_up("a1")
    assert parent.data["lst"] == "second" and "s" in parent.data
    m.propagate_up("a2")  # a2 has none of the fields: nothing changes
    assert parent.data == {"mx": 7, "mn": 3, "lst": "second", "s": 2}


def test_worst_unknown_ranks_zero() -> None:
    m, parent, kids = _tree()
    kids[0].data["status"] = "weird"
    kids[1].data["status"] = "idle"
    m.propagate_up("a1")
    assert parent.data["status"] in {"weird", "idle"}
    kids[2].data["status"] = "running"
    m.propagate_up("a2")
    assert parent.data["status"] == "running"


def test_propagate_noops() -> None:
    m, parent, _ = _tree()
    m.propagate_up("missing")
    m.propagate_up("p")  # no parent
    m.propagate_down("missing")
    assert parent.data == {}


def test_propagate_down() -> None:
    m, parent, kids = _tree()
    parent.data.update(global_config={"model": "x"}, shared_state=1, private=2)
    m.propagate_down("p")
    for k in kids:
        assert k.data == {"global_config": {"model": "x"}, "shared_state": 1}


def test_timestamps_default_to_now() -> None:
    before = datetime.now() - timedelta(seconds=1)
    h = HierarchicalContext(ContextScope.GROUP, "g")
    c = SecureAgentContext("a", "A")
    assert h.created_at >= before and h.updated_at >= before and c.created_at >= before


def test_instances_share_no_state() -> None:
    m1, m2 = ContextManager(), ContextManager()
    m1.create_context(ContextScope.GROUP, "g")
    assert m2.get_all_contexts() == {}
    m1.config.add_propagate_up("x", "sum")
    assert "x" not in m2.config.propagate_up
    c1, c2 = create_secure_context("a", "A"), create_secure_context("a", "A")
    c1.set_sealed("k", 1)
    assert not c2.has_sealed("k") and c2.access_policy.sealed_fields == set()
