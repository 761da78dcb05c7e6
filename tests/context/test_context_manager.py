"""ContextManager: registry, linking, removal, and idempotent propagation with no helper state (§5.5)."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.context import ContextManager, ContextPropagationConfig, ContextScope, create_secure_context
from llmteam.context._manager import aggregate

A, P, G = ContextScope.AGENT, ContextScope.PIPELINE, ContextScope.GROUP


def tree() -> ContextManager:
    m = ContextManager()
    m.create_context(G, "g")
    m.create_context(P, "p", parent_id="g")
    for i in range(3):
        m.create_context(A, f"a{i}", parent_id="p")
    return m


def test_create_link_get() -> None:
    m = tree()
    p = m.get_context("p")
    assert p is not None and p.get_child_context("a1") is m.get_context("a1")
    assert m.get_context("a1").parent_id == "p"  # type: ignore[union-attr]
    assert set(m.get_all_contexts()) == {"g", "p", "a0", "a1", "a2"}
    assert set(m.get_root_contexts()) == {"g"}
    m.get_all_contexts().clear()
    assert m.get_context("g") is not None
    orphan = m.create_context(A, "o", parent_id="nobody")
    assert orphan.parent_id == "nobody" and "o" not in m.get_root_contexts()
    secure = create_secure_context("s", "S")
    assert m.create_context(A, "s", secure_context=secure).secure_context is secure
    assert isinstance(m.config, ContextPropagationConfig)


def test_create_bad_input() -> None:
    m = tree()
    with pytest.raises(TypeError, match="scope must be a ContextScope.*'agent'"):
        m.create_context("agent", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="owner_id must be a non-empty"):
        m.create_context(A, "")
    with pytest.raises(ValueError, match="own parent"):
        m.create_context(A, "self", parent_id="self")
    with pytest.raises(TypeError, match="propagation_config"):
        ContextManager({"propagate_up": []})  # type: ignore[arg-type]
    assert "x" not in m.get_all_contexts() and "self" not in m.get_all_contexts()


def test_remove_recursive_and_detach() -> None:
    m = tree()
    m.remove_context("p")
    assert set(m.get_all_contexts()) == {"g"} and m.get_context("g").children == {}  # type: ignore[union-attr]
    m.remove_context("p")
    m.remove_context("never")


def test_propagate_up_default_rules() -> None:
    m = tree()
    for i, (status, conf, errs) in enumerate([("completed", 0.9, 1), ("error", 0.3, 2), ("running", 0.6, 0)]):
        m.get_context(f"a{i}").data.update(status=status, confidence=conf, error_count=errs)  # type: ignore[union-attr]
    p = m.get_context("p")
    assert p is not None
    p.updated_at = datetime(2000, 1, 1)
    m.propagate_up("a0")
    assert p.data == {"status": "error", "confidence": pytest.approx(0.6), "error_count": 3}
    assert p.updated_at.year > 2000


def test_propagate_up_is_idempotent_without_helper_keys() -> None:
    m = tree()
    for i in range(3):
        m.get_context(f"a{i}").data.update(confidence=0.1 * (i + 1), error_count=i)  # type: ignore[union-attr]
    p = m.get_context("p")
    assert p is not None
    m.propagate_up("a1")
    snapshot = copy.deepcopy(p.data)
    stamp = p.updated_at
    for _ in range(5):
        m.propagate_up("a1")
        m.propagate_up("a2")
    assert p.data == snapshot and set(p.data) == {"confidence", "error_count"} and p.updated_at == stamp
    assert set(vars(m)) == {"config", "_contexts"}


def test_propagate_up_rules_and_noops() -> None:
    cfg = ContextPropagationConfig(propagate_up=["tokens", "note", "score"], aggregation_rules={})
    cfg.add_propagate_up("tokens", "max")
    cfg.set_aggregation_rule("score", "min")
    m = ContextManager(cfg)
    m.create_context(P, "p")
    m.create_context(A, "a", parent_id="p").data.update(tokens=5, note="first", score=3)
    m.create_context(A, "b", parent_id="p").data.update(tokens=9, note="second")
    m.propagate_up("a")
    assert m.get_context("p").data == {"tokens": 9, "note": "first", "score": 3}  # type: ignore[union-attr]
    m.propagate_up("b")
    assert m.get_context("p").data["note"] == "second"  # type: ignore[union-attr]
    m.propagate_up("p")  # no parent
    m.propagate_up("missing")


def test_propagate_up_bad_values_write_nothing() -> None:
    m = ContextManager()
    m.create_context(P, "p")
    m.create_context(A, "a", parent_id="p").data.update(status="failed", confidence="high")
    with pytest.raises(TypeError, match="cannot avg field 'confidence'.*'high'"):
        m.propagate_up("a")
    assert m.get_context("p").data == {}  # type: ignore[union-attr]
    m.config.aggregation_rules["status"] = "bogus"
    m.get_context("a").data["confidence"] = 0.5  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown aggregation rule 'bogus'"):
        m.propagate_up("a")
    assert m.get_context("p").data == {}  # type: ignore[union-attr]


def test_aggregate_rules() -> None:
    assert aggregate("sum", "f", [1, 2, 3], 1) == 6
    assert aggregate("avg", "f", [1, 2], 1) == 1.5
    assert aggregate("max", "f", [1, 7], 1) == 7 and aggregate("min", "f", [4, 2], 4) == 2
    assert aggregate("last", "f", [1, 2], "x") == "x"
    assert aggregate("worst", "f", ["idle", "failed", "error"], "idle") == "failed"
    assert aggregate("worst", "f", ["weird", "running"], "weird") == "running"
    assert aggregate("worst", "f", ["weird", "idle"], "weird") == "weird"
    with pytest.raises(TypeError, match="not comparable"):
        aggregate("max", "f", [1, "a"], 1)
    with pytest.raises(TypeError, match="not a number"):
        aggregate("sum", "f", [True], True)


def test_propagate_down_copies_and_isolates() -> None:
    m = tree()
    g = m.get_context("p")
    assert g is not None
    g.data.update(global_config={"model": "x"}, shared_state={"n": 1}, private="no")
    m.propagate_down("p")
    a0, a1 = m.get_context("a0"), m.get_context("a1")
    assert a0 is not None and a1 is not None
    assert a0.data == {"global_config": {"model": "x"}, "shared_state": {"n": 1}}
    a0.data["shared_state"]["n"] = 99
    assert a1.data["shared_state"] == {"n": 1} and g.data["shared_state"] == {"n": 1}
    m.propagate_down("missing")
    m.propagate_down("a0")  # no children


@settings(max_examples=100, deadline=None)
@given(
    children=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "status": st.sampled_from(["idle", "running", "completed", "error", "failed", "other"]),
                "confidence": st.floats(0, 1),
                "error_count": st.integers(0, 100),
            },
        ),
        min_size=1,
        max_size=5,
    ),
    order=st.lists(st.integers(0, 4), min_size=1, max_size=8),
)
def test_propagation_is_idempotent_and_matches_definition(children: list[dict[str, object]], order: list[int]) -> None:
    m = ContextManager()
    p = m.create_context(P, "p")
    for i, data in enumerate(children):
        m.create_context(A, f"c{i}", parent_id="p").data.update(data)
    for i in order:
        cid = f"c{i % len(children)}"
        m.propagate_up(cid)
        once = dict(p.data)
        m.propagate_up(cid)
        assert p.data == once
    assert set(p.data) <= {"status", "confidence", "error_count"}
    for name in ("confidence", "error_count"):
        values = [c[name] for c in children if name in c]
        if name in p.data:
            expected = sum(values) / len(values) if name == "confidence" else sum(values)
            assert p.data[name] == pytest.approx(expected)


def test_recreating_an_owner_replaces_its_context_and_keeps_the_tree_consistent() -> None:
    m = ContextManager()
    m.create_context(ContextScope.GROUP, "g")
    old = m.create_context(P, "p", parent_id="g")
    child = m.create_context(A, "a", parent_id="p")
    new = m.create_context(P, "p", parent_id="g")
    assert new is not old and m.get_context("p") is new
    assert m.get_context("g").get_child_context("p") is new  # type: ignore[union-attr]
    assert new.get_child_context("a") is child and child.parent_id == "p"
    moved = m.create_context(P, "p")  # re-created as a root: detached from its old parent
    assert m.get_context("g").get_child_context("p") is None  # type: ignore[union-attr]
    assert "p" in m.get_root_contexts() and moved.get_child_context("a") is child
