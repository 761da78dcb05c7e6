"""SecureAgentContext: fields, sealed storage, views, export, mutators, and every leak channel (contract §5.4)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import pickle
import threading
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.context import (
    ContextAccessPolicy,
    SealedDataAccessError,
    SecureAgentContext,
    SensitivityLevel,
    create_secure_context,
)

S = SensitivityLevel
SECRET = "tok-9b2e41d7-UNIQUE-SECRET"


def make(**kw: Any) -> SecureAgentContext:
    ctx = create_secure_context("agent-1", "triage", **kw)
    ctx.set_sealed("api_key", SECRET)
    ctx.set_data("topic", "billing")
    return ctx


def test_fields_in_order_and_defaults() -> None:
    names = [f.name for f in dataclasses.fields(SecureAgentContext)]
    assert names == [
        "agent_id",
        "agent_name",
        "confidence",
        "status",
        "error_count",
        "last_action",
        "reasoning_steps",
        "sources",
        "messages",
        "data",
        "access_policy",
        "created_at",
        "updated_at",
    ]
    a, b = SecureAgentContext("a", "A"), SecureAgentContext("b", "B")
    a.data["x"] = 1
    a.reasoning_steps.append("s")
    assert b.data == {} and b.reasoning_steps == [] and a.access_policy is not b.access_policy
    assert (a.confidence, a.status, a.error_count, a.last_action) == (0.0, "idle", 0, "")
    a.status = "running"  # assignable
    assert a.audit_trail is None


def test_create_secure_context_builds_policy() -> None:
    ctx = create_secure_context("a", "A", S.CONFIDENTIAL, {"ssn"}, audit_access=True)
    assert ctx.access_policy.sensitivity is S.CONFIDENTIAL
    assert ctx.access_policy.sealed_fields == {"ssn"} and ctx.access_policy.audit_access


def test_sealed_roundtrip_and_errors() -> None:
    ctx = make()
    before = ctx.updated_at
    assert ctx.get_sealed("api_key", "agent-1") == SECRET
    assert ctx.has_sealed("api_key") and ctx.list_sealed_keys() == ["api_key"]
    assert "api_key" in ctx.access_policy.sealed_fields
    with pytest.raises(KeyError):
        ctx.get_sealed("missing", "agent-1")
    with pytest.raises(SealedDataAccessError) as info:
        ctx.get_sealed("api_key", "agent-2")
    assert isinstance(info.value, PermissionError) and info.value.field_name == "api_key"
    with pytest.raises(PermissionError):
        ctx.delete_sealed("api_key", "agent-2")
    ctx.delete_sealed("missing", "agent-2")  # no-op
    ctx.delete_sealed("api_key", "agent-1")
    assert not ctx.has_sealed("api_key") and "api_key" not in ctx.access_policy.sealed_fields
    assert ctx.updated_at >= before


def test_visible_context_allowed_shape() -> None:
    ctx = make(sensitivity=S.INTERNAL)
    ctx.add_reasoning_step("think")
    ctx.add_source("doc")
    view = ctx.get_visible_context("orch", "pipeline_orch")
    assert set(view) == {
        "agent_id",
        "agent_name",
        "status",
        "confidence",
        "error_count",
        "last_action",
        "updated_at",
        "reasoning_steps",
        "sources",
        "data",
        "sealed_fields",
    }
    assert view["data"] == {"topic": "billing"} and view["sealed_fields"] == ["api_key"]
    assert view["updated_at"] == ctx.updated_at.isoformat()
    view["reasoning_steps"].append("injected")
    assert ctx.reasoning_steps == ["think"]


def test_visible_context_confidential_hides_reasoning_and_empty_data() -> None:
    ctx = create_secure_context("a", "A", S.CONFIDENTIAL)
    view = ctx.get_visible_context("sys", "system")
    assert "reasoning_steps" not in view and "sources" not in view and "data" not in view
    assert view["sealed_fields"] == []


@pytest.mark.parametrize(("viewer", "role"), [("agent-2", "agent"), ("x", ""), ("x", "boss")])
def test_visible_context_denied_shape(viewer: str, role: str) -> None:
    view = make().get_visible_context(viewer, role)
    assert set(view) == {"agent_id", "agent_name", "access", "reason"} and view["access"] == "denied"


def test_presealed_name_in_data_is_hidden() -> None:
    ctx = create_secure_context("a", "A", sealed_fields={"ssn"})
    ctx.set_data("ssn", SECRET)
    assert SECRET not in json.dumps(ctx.get_visible_context("o", "pipeline_orch"))
    assert SECRET not in json.dumps(ctx.to_dict(), default=str)
    assert ctx.get_data("ssn") == SECRET  # the owner's own code still reads its data


def test_a_viewer_cannot_change_the_agents_data_through_its_view() -> None:
    # the review's move: an orchestrator edits the nested data of the read-only view it was given
    ctx = make()
    ctx.set_data("config", {"role": "reader", "tools": ["search"]})
    ctx.add_message({"role": "user", "meta": {"trusted": False}})
    view = ctx.get_visible_context("orch-1", "pipeline_orch")
    view["data"]["config"]["role"] = "admin"
    view["data"]["config"]["tools"].append("shell")
    exported = ctx.to_dict()
    exported["data"]["config"]["role"] = "admin"
    exported["messages"][0]["meta"]["trusted"] = True
    assert ctx.get_data("config") == {"role": "reader", "tools": ["search"]}
    assert ctx.messages == [{"role": "user", "meta": {"trusted": False}}]
    assert ctx.to_dict(include_sealed=True, requester_id="agent-1")["data"]["config"] is not ctx.data["config"]


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    | st.tuples(inner, inner) | st.sets(st.integers(), max_size=3),
    max_leaves=12,
)


def mutable_ids(value: Any) -> set[int]:
    if isinstance(value, (list, dict, set)):
        inner = value.values() if isinstance(value, dict) else value
        return {id(value)}.union(*(mutable_ids(v) for v in inner))
    if isinstance(value, tuple):
        return set().union(*(mutable_ids(v) for v in value))
    return set()


@settings(max_examples=80, deadline=None)
@given(data=st.dictionaries(st.text(max_size=4), json_like, max_size=4))
def test_views_and_exports_share_no_mutable_object_with_the_context(data: dict[str, Any]) -> None:
    ctx = SecureAgentContext("a", "A", data=data)
    view = ctx.get_visible_context("o", "system").get("data", {})
    exported = ctx.to_dict()["data"]
    assert view == exported == data
    assert not mutable_ids(ctx.data) & (mutable_ids(view) | mutable_ids(exported))


def test_a_value_that_cannot_be_copied_is_refused_by_name() -> None:
    ctx = make()
    ctx.set_data("lock", threading.Lock())
    for call in (lambda: ctx.get_visible_context("o", "system"), ctx.to_dict):
        with pytest.raises(TypeError, match="data entry 'lock' holds a lock that cannot be copied.*plain data"):
            call()
    assert ctx.get_visible_context("agent-2", "agent")["access"] == "denied"  # a denial copies nothing


def test_check_access_delegates() -> None:
    ctx = make()
    assert not ctx.check_access("o", "pipeline_orch", {"api_key"}).allowed
    assert ctx.check_access("o", "pipeline_orch", {"topic"}).allowed


def test_delegating_mutators() -> None:
    ctx = make()
    ctx.deny_access_to("o")
    assert ctx.get_visible_context("o", "pipeline_orch")["access"] == "denied"
    ctx.allow_access_to("o")
    ctx.set_sensitivity(S.SECRET)
    assert ctx.access_policy.sensitivity is S.SECRET
    assert ctx.get_visible_context("o", "pipeline_orch")["access"] == "denied"


def test_to_dict_keys_and_sealed_export() -> None:
    ctx = make()
    d = ctx.to_dict()
    assert "_sealed" not in d and SECRET not in json.dumps(d)
    assert d["access_policy"] == {
        "default_visibility": "orchestrator",
        "sensitivity": "internal",
        "sealed_fields": ["api_key"],
        "audit_access": False,
    }
    assert set(d) == {
        "agent_id",
        "agent_name",
        "confidence",
        "status",
        "error_count",
        "last_action",
        "reasoning_steps",
        "sources",
        "messages",
        "data",
        "created_at",
        "updated_at",
        "access_policy",
    }
    with pytest.raises(PermissionError, match="requester_id"):
        ctx.to_dict(include_sealed=True)
    assert ctx.to_dict(include_sealed=True, requester_id="agent-1")["_sealed"] == {"api_key": SECRET}
    for other in ("agent-2", ""):
        with pytest.raises(PermissionError):
            ctx.to_dict(include_sealed=True, requester_id=other)
        with pytest.raises(PermissionError):
            ctx.to_dict(requester_id=other)


def test_mutators_refresh_updated_at_and_clamp() -> None:
    ctx = SecureAgentContext("a", "A", updated_at=datetime(2000, 1, 1))
    ctx.update_confidence(3)
    assert ctx.confidence == 1.0 and ctx.updated_at.year > 2000
    ctx.update_confidence(-0.5)
    assert ctx.confidence == 0.0
    ctx.update_status("running")
    ctx.add_reasoning_step("r")
    ctx.add_source("s")
    ctx.add_message({"role": "user", "content": "hi"})
    ctx.increment_error_count()
    ctx.set_data("k", 1)
    assert (ctx.status, ctx.reasoning_steps, ctx.sources, ctx.error_count) == ("running", ["r"], ["s"], 1)
    assert ctx.messages == [{"role": "user", "content": "hi"}]
    assert ctx.get_data("k") == 1 and ctx.get_data("nope", 7) == 7


def test_histories_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SecureAgentContext, "MAX_HISTORY", 3)
    ctx = SecureAgentContext("a", "A")
    for i in range(10):
        ctx.add_reasoning_step(str(i))
    assert ctx.reasoning_steps == ["7", "8", "9"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.update_confidence("high"), "confidence must be a number.*'high'"),
        (lambda c: c.update_confidence(None), "confidence must be a number.*None"),
        (lambda c: c.update_status(3), "status must be a str.*3"),
        (lambda c: c.add_message("hi"), "message must be a dict.*'hi'"),
        (lambda c: c.set_sealed(5, "v"), "sealed key must be a str.*5"),
        (lambda c: c.get_sealed("k", None), "requester_id must be a str.*None"),
        (lambda c: c.set_sensitivity("public"), "SensitivityLevel.*'public'"),
        (lambda c: c.get_visible_context(None, "system"), "viewer_id must be a str"),
        (lambda c: c.get_visible_context("v", None), "viewer_role must be a str"),
        (lambda c: c.to_dict(include_sealed="yes"), "include_sealed must be a bool"),
    ],
)
def test_bad_input_named(call: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        call(SecureAgentContext("a", "A"))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"agent_id": ""}, ValueError, "agent_id must be a non-empty"),
        ({"agent_id": 1}, TypeError, "agent_id must be a str"),
        ({"confidence": "0.5"}, TypeError, "confidence must be a number.*'0.5'"),
        ({"confidence": float("nan")}, ValueError, "NaN"),
        ({"error_count": 1.5}, TypeError, "error_count must be an int"),
        ({"data": []}, TypeError, "data must be a dict"),
        ({"access_policy": {}}, TypeError, "access_policy must be a ContextAccessPolicy"),
        ({"sources": "s"}, TypeError, "sources must be a list"),
    ],
)
def test_bad_construction_named(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"agent_id": "a", "agent_name": "A", **kwargs}
    with pytest.raises(exc, match=match):
        SecureAgentContext(**args)


def test_confidence_int_is_accepted_as_float() -> None:
    assert SecureAgentContext("a", "A", confidence=1).confidence == 1.0


# --- leak channels: a unique secret must not appear anywhere -------------------------------------------------


def test_no_leak_repr_str_asdict_vars() -> None:
    ctx = make()
    assert SECRET not in repr(ctx) and SECRET not in str(ctx)
    assert SECRET not in repr(dataclasses.asdict(ctx)) and SECRET not in str(dataclasses.astuple(ctx))
    assert SECRET not in repr(vars(ctx))
    assert "_sealed" not in {f.name for f in dataclasses.fields(ctx)}


def test_presealed_name_in_data_is_redacted_from_repr() -> None:
    # the review's move: set_data under a pre-sealed name, then print the context
    ctx = create_secure_context("agent-1", "triage", sealed_fields={"api_key"})
    ctx.set_data("api_key", SECRET)
    ctx.set_data("topic", "billing")
    ctx.set_sealed("token", "x")
    ctx.set_data("token", SECRET)  # a set_sealed name put in data too
    for text in (repr(ctx), str(ctx), f"{ctx}", repr([ctx]), repr({"ctx": ctx})):
        assert SECRET not in text
    assert "'api_key': '[SEALED]'" in repr(ctx) and "'topic': 'billing'" in repr(ctx)
    assert repr(ctx).startswith("SecureAgentContext(agent_id='agent-1', agent_name='triage', confidence=0.0")
    assert ctx.get_data("api_key") == SECRET  # only the text is redacted
    ctx.data["self"] = ctx
    assert "'self': ...}" in repr(ctx)  # a cycle does not recurse


def test_no_leak_pickle() -> None:
    ctx = make()
    with pytest.raises(TypeError) as info:
        pickle.dumps(ctx)
    assert SECRET not in str(info.value)
    plain = SecureAgentContext("a", "A", data={"x": 1})
    restored = pickle.loads(pickle.dumps(plain))
    assert restored == plain and restored.list_sealed_keys() == []


def test_copy_and_deepcopy_keep_sealed_objects_and_never_duplicate_value() -> None:
    ctx = make()
    deep = copy.deepcopy(ctx)
    assert deep.get_sealed("api_key", "agent-1") == SECRET
    assert deep._sealed["api_key"] is ctx._sealed["api_key"]
    deep.set_sealed("other", "x")
    assert not ctx.has_sealed("other")
    assert copy.copy(ctx).get_sealed("api_key", "agent-1") == SECRET


class ListTrail:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def log(self, event_type: Any, **fields: Any) -> None:
        self.events.append({"event": event_type, **fields})


@pytest.mark.parametrize("copied", [True, False])
def test_sealed_export_asks_each_value_its_owner(copied: bool) -> None:
    # the review's move: agent_id is assignable, so make it "mallory" and export as mallory
    trail = ListTrail()
    ctx = make(audit_trail=trail)
    stolen = copy.copy(ctx) if copied else ctx
    stolen.agent_id = "mallory"
    with pytest.raises(SealedDataAccessError) as info:
        stolen.get_sealed("api_key", "mallory")
    with pytest.raises(SealedDataAccessError) as export:
        stolen.to_dict(include_sealed=True, requester_id="mallory")
    assert export.value.owner_id == info.value.owner_id == "agent-1" and SECRET not in str(export.value)
    asyncio.run(stolen.flush_audit())  # no event loop here: the records waited in the queue
    (denied,) = trail.events
    assert denied["success"] is False and denied["actor_id"] == "mallory"
    assert denied["metadata"]["owner_id"] == "agent-1" and denied["resource_id"] == "api_key"
    assert stolen.to_dict()["agent_id"] == "mallory"  # the non-sealed export is unchanged
    stolen.agent_id = "agent-1"
    assert stolen.to_dict(include_sealed=True, requester_id="agent-1")["_sealed"] == {"api_key": SECRET}
    asyncio.run(stolen.flush_audit())
    assert trail.events[-1]["metadata"]["owner_id"] == "agent-1"


def test_copy_has_its_own_sealed_store() -> None:
    ctx = make()
    clone = copy.copy(ctx)
    assert clone._sealed is not ctx._sealed and clone._sealed["api_key"] is ctx._sealed["api_key"]
    clone.set_sealed("other", "x")
    clone.delete_sealed("api_key", "agent-1")
    assert ctx.list_sealed_keys() == ["api_key"] and ctx.get_sealed("api_key", "agent-1") == SECRET
    assert clone.list_sealed_keys() == ["other"]
    assert ctx.access_policy.sealed_fields == {"api_key"} and clone.access_policy.sealed_fields == {"other"}
    assert clone.data is ctx.data  # otherwise an ordinary shallow copy


def test_no_leak_in_logging_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = make(audit_access=True)
    messages: list[str] = []
    for call in (
        lambda: ctx.get_sealed("api_key", "mallory"),
        lambda: ctx.delete_sealed("api_key", "mallory"),
        lambda: ctx.to_dict(include_sealed=True, requester_id="mallory"),
        lambda: ctx.get_sealed("nope", "agent-1"),
    ):
        with pytest.raises((PermissionError, KeyError)) as info:
            call()
        messages += [str(info.value), repr(info.value), repr(info.value.args)]
    logging.getLogger("test").info("context %s / %r", ctx, ctx)
    assert all(SECRET not in m for m in messages)
    assert SECRET not in caplog.text


def test_no_leak_json_of_views() -> None:
    ctx = make(sensitivity=S.PUBLIC)
    for role in ("pipeline_orch", "group_orch", "system", "agent", ""):
        assert SECRET not in json.dumps(ctx.get_visible_context("v", role))
    assert SECRET not in json.dumps(ctx.to_dict())


@settings(max_examples=100, deadline=None)
@given(
    viewer=st.sampled_from(["agent-1", "agent-2", "orch", ""]),
    role=st.one_of(st.sampled_from(["agent", "pipeline_orch", "group_orch", "system", ""]), st.text(max_size=6)),
    sensitivity=st.sampled_from(list(S)),
    key=st.sampled_from(["api_key", "topic", "status", "data", "sealed_fields"]),
)
def test_sealed_never_visible_for_any_viewer(viewer: str, role: str, sensitivity: S, key: str) -> None:
    ctx = SecureAgentContext("agent-1", "A", access_policy=ContextAccessPolicy(sensitivity=sensitivity))
    ctx.set_data("topic", "ok")
    ctx.set_sealed(key, SECRET)
    view = ctx.get_visible_context(viewer, role)
    assert SECRET not in json.dumps(view)
    assert key not in view.get("data", {})
    allowed = ctx.access_policy.can_access(viewer, role)[0]
    assert (view.get("access") == "denied") is (not allowed)
    if allowed:
        assert key in view["sealed_fields"]
