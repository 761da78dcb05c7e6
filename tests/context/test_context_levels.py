"""Levels, roles and the sensitivity->visibility map (contract §5.1)."""

from __future__ import annotations

import pytest

from llmteam.context import (
    ROLE_AGENT,
    ROLE_GROUP_ORCH,
    ROLE_PIPELINE_ORCH,
    ROLE_SYSTEM,
    SENSITIVITY_VISIBILITY_MAP,
    SensitivityLevel,
    VisibilityLevel,
    get_visibility_for_sensitivity,
    is_visibility_allowed,
)

S, V = SensitivityLevel, VisibilityLevel


def test_enum_values_exact() -> None:
    assert [(m.name, m.value) for m in V] == [
        ("SELF_ONLY", "self_only"),
        ("ORCHESTRATOR", "orchestrator"),
        ("HIERARCHY", "hierarchy"),
    ]
    assert [m.value for m in S] == ["public", "internal", "confidential", "secret", "top_secret"]


def test_roles() -> None:
    assert (ROLE_AGENT, ROLE_PIPELINE_ORCH, ROLE_GROUP_ORCH, ROLE_SYSTEM) == (
        "agent",
        "pipeline_orch",
        "group_orch",
        "system",
    )


def test_map_and_getter() -> None:
    assert SENSITIVITY_VISIBILITY_MAP == {
        S.PUBLIC: V.HIERARCHY,
        S.INTERNAL: V.ORCHESTRATOR,
        S.CONFIDENTIAL: V.ORCHESTRATOR,
        S.SECRET: V.SELF_ONLY,
        S.TOP_SECRET: V.SELF_ONLY,
    }
    for s in S:
        assert get_visibility_for_sensitivity(s) is SENSITIVITY_VISIBILITY_MAP[s]


@pytest.mark.parametrize(
    ("requested", "sensitivity", "expected"),
    [
        (V.HIERARCHY, S.INTERNAL, False),
        (V.ORCHESTRATOR, S.INTERNAL, True),
        (V.SELF_ONLY, S.INTERNAL, True),
        (V.HIERARCHY, S.PUBLIC, True),
        (V.ORCHESTRATOR, S.SECRET, False),
        (V.SELF_ONLY, S.TOP_SECRET, True),
        (V.HIERARCHY, S.CONFIDENTIAL, False),
    ],
)
def test_is_visibility_allowed(requested: V, sensitivity: S, expected: bool) -> None:
    assert is_visibility_allowed(requested, sensitivity) is expected


@pytest.mark.parametrize("bad", ["secret", None, 3])
def test_bad_enums_named(bad: object) -> None:
    with pytest.raises(TypeError, match=repr(bad)):
        get_visibility_for_sensitivity(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=repr(bad)):
        is_visibility_allowed(bad, S.PUBLIC)  # type: ignore[arg-type]
