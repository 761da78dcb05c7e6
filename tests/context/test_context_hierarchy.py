"""HierarchicalContext and ContextPropagationConfig (contract §5.5)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from llmteam.context import (
    ContextPropagationConfig,
    ContextScope,
    HierarchicalContext,
    SensitivityLevel,
    create_secure_context,
)

SECRET = "hier-SECRET-0xbeef"


def test_scope_values_and_defaults() -> None:
    assert [s.value for s in ContextScope] == ["agent", "pipeline", "group"]
    a = HierarchicalContext(ContextScope.PIPELINE, "p1")
    b = HierarchicalContext(ContextScope.PIPELINE, "p2")
    a.data["x"] = 1
    assert b.data == {} and b.children == {} and (a.parent_id, a.secure_context, a.access_count) == (None, None, 0)
    assert [f.name for f in dataclasses.fields(HierarchicalContext)] == [
        "scope",
        "owner_id",
        "parent_id",
        "data",
        "children",
        "secure_context",
        "created_at",
        "updated_at",
        "access_count",
    ]


def test_child_management() -> None:
    parent = HierarchicalContext(ContextScope.PIPELINE, "p1")
    child = HierarchicalContext(ContextScope.AGENT, "a1")
    parent.set_child_context("a1", child)
    assert parent.get_child_context("a1") is child and child.parent_id == "p1"
    assert parent.get_child_context("zz") is None
    parent.remove_child_context("zz")
    parent.remove_child_context("a1")
    assert parent.children == {}
    with pytest.raises(ValueError, match="own child"):
        parent.set_child_context("p1", parent)
    with pytest.raises(TypeError, match="HierarchicalContext"):
        parent.set_child_context("x", {"not": "ctx"})  # type: ignore[arg-type]


def test_visible_children_mixed_and_counted() -> None:
    parent = HierarchicalContext(ContextScope.PIPELINE, "p1")
    secure = create_secure_context("a1", "one")
    secure.set_sealed("key", SECRET)
    secret = create_secure_context("a2", "two", sensitivity=SensitivityLevel.SECRET)
    parent.set_child_context("a1", HierarchicalContext(ContextScope.AGENT, "a1", secure_context=secure))
    parent.set_child_context("a2", HierarchicalContext(ContextScope.AGENT, "a2", secure_context=secret))
    parent.set_child_context("plain", HierarchicalContext(ContextScope.AGENT, "plain"))
    view = parent.get_visible_children("p1", "pipeline_orch")
    assert view["a1"] == secure.get_visible_context("p1", "pipeline_orch")
    assert view["a2"]["access"] == "denied" and set(view["a2"]) == {"access", "reason"}
    assert view["plain"] == parent.children["plain"].get_summary()
    assert parent.access_count == 1
    as_agent = parent.get_visible_children("a9", "agent")
    assert as_agent["a1"]["access"] == "denied" and "forbidden" in as_agent["a1"]["reason"]
    assert parent.access_count == 2
    assert SECRET not in json.dumps([view, as_agent])


def test_summary_and_to_dict() -> None:
    ctx = HierarchicalContext(ContextScope.GROUP, "g", data={"k": [1]}, updated_at=datetime(2024, 1, 2))
    ctx.set_child_context("c", HierarchicalContext(ContextScope.PIPELINE, "c"))
    s = ctx.get_summary()
    assert s == {
        "scope": "group",
        "owner_id": "g",
        "children_count": 1,
        "updated_at": ctx.updated_at.isoformat(),
        "access_count": 0,
    }
    d = ctx.to_dict()
    assert set(d) == {
        "scope",
        "owner_id",
        "parent_id",
        "data",
        "children_count",
        "created_at",
        "updated_at",
        "access_count",
    }
    d["data"]["new"] = 1
    assert "new" not in ctx.data


def test_bad_input_named() -> None:
    with pytest.raises(TypeError, match="scope must be a ContextScope.*'agent'"):
        HierarchicalContext("agent", "a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="owner_id must be a str"):
        HierarchicalContext(ContextScope.AGENT, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="secure_context"):
        HierarchicalContext(ContextScope.AGENT, "a", secure_context="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="viewer_role must be a str"):
        HierarchicalContext(ContextScope.AGENT, "a").get_visible_children("v", None)  # type: ignore[arg-type]


def test_propagation_config() -> None:
    cfg = ContextPropagationConfig()
    assert cfg.propagate_up == ["status", "confidence", "error_count"]
    assert cfg.propagate_down == ["global_config", "shared_state"]
    assert cfg.aggregation_rules == {"confidence": "avg", "error_count": "sum", "status": "worst"}
    assert ContextPropagationConfig().propagate_up is not cfg.propagate_up
    cfg.add_propagate_up("tokens", "sum")
    cfg.add_propagate_up("tokens", "max")
    assert cfg.propagate_up.count("tokens") == 1 and cfg.get_aggregation_rule("tokens") == "max"
    cfg.add_propagate_up("note")
    assert cfg.get_aggregation_rule("note") == "last"
    cfg.remove_propagate_up("tokens")
    assert "tokens" not in cfg.propagate_up and cfg.get_aggregation_rule("tokens") == "last"
    cfg.add_propagate_down("x")
    cfg.add_propagate_down("x")
    assert cfg.propagate_down.count("x") == 1
    cfg.remove_propagate_down("x")
    cfg.remove_propagate_down("never")
    cfg.set_aggregation_rule("confidence", "min")
    assert cfg.get_aggregation_rule("confidence") == "min"
    for bad in ("median", "", None):
        with pytest.raises(ValueError, match="unknown aggregation rule"):
            cfg.set_aggregation_rule("confidence", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'mean'"):
        cfg.add_propagate_up("f", "mean")
    assert "f" not in cfg.propagate_up


def test_asdict_of_tree_never_contains_sealed_values() -> None:
    secure = create_secure_context("a1", "one")
    secure.set_sealed("key", SECRET)
    root = HierarchicalContext(ContextScope.PIPELINE, "p1")
    root.set_child_context("a1", HierarchicalContext(ContextScope.AGENT, "a1", secure_context=secure))
    assert SECRET not in repr(dataclasses.asdict(root)) and SECRET not in repr(root)


def test_repr_of_a_node_redacts_its_agents_presealed_data() -> None:
    secure = create_secure_context("a1", "one", sealed_fields={"api_key"})
    secure.set_data("api_key", SECRET)
    node = HierarchicalContext(ContextScope.AGENT, "a1", secure_context=secure)
    parent = HierarchicalContext(ContextScope.PIPELINE, "p1")
    parent.set_child_context("a1", node)
    assert SECRET not in repr(node) and SECRET not in repr(parent) and SECRET not in str(parent)


def test_to_dict_data_is_a_deep_copy() -> None:
    node = HierarchicalContext(ContextScope.PIPELINE, "p1", data={"shared_state": {"phase": ["plan"]}})
    node.to_dict()["data"]["shared_state"]["phase"].append("injected")
    assert node.data == {"shared_state": {"phase": ["plan"]}}
