"""Visibility levels, sensitivity levels, the sensitivity->visibility map and the role names."""

from __future__ import annotations

from enum import Enum

from llmteam.context._validate import require_enum

__all__ = [
    "ORCHESTRATOR_ROLES",
    "ROLE_AGENT",
    "ROLE_GROUP_ORCH",
    "ROLE_PIPELINE_ORCH",
    "ROLE_SYSTEM",
    "SENSITIVITY_VISIBILITY_MAP",
    "SensitivityLevel",
    "VisibilityLevel",
    "get_visibility_for_sensitivity",
    "is_visibility_allowed",
]

ROLE_AGENT = "agent"
ROLE_PIPELINE_ORCH = "pipeline_orch"
ROLE_GROUP_ORCH = "group_orch"
ROLE_SYSTEM = "system"

#: The only roles that may ever be granted access (rule 6: anything else, including "" and unknown names, is denied).
ORCHESTRATOR_ROLES = frozenset({ROLE_PIPELINE_ORCH, ROLE_GROUP_ORCH, ROLE_SYSTEM})


class VisibilityLevel(Enum):
    """How far up the hierarchy a context may be seen; SELF_ONLY < ORCHESTRATOR < HIERARCHY."""

    SELF_ONLY = "self_only"
    ORCHESTRATOR = "orchestrator"
    HIERARCHY = "hierarchy"


class SensitivityLevel(Enum):
    """How sensitive a context's data is; the higher, the fewer viewers."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    SECRET = "secret"  # noqa: S105 - a level name, not a password
    TOP_SECRET = "top_secret"  # noqa: S105


SENSITIVITY_VISIBILITY_MAP: dict[SensitivityLevel, VisibilityLevel] = {
    SensitivityLevel.PUBLIC: VisibilityLevel.HIERARCHY,
    SensitivityLevel.INTERNAL: VisibilityLevel.ORCHESTRATOR,
    SensitivityLevel.CONFIDENTIAL: VisibilityLevel.ORCHESTRATOR,
    SensitivityLevel.SECRET: VisibilityLevel.SELF_ONLY,
    SensitivityLevel.TOP_SECRET: VisibilityLevel.SELF_ONLY,
}

_RESTRICTIVENESS = {VisibilityLevel.SELF_ONLY: 0, VisibilityLevel.ORCHESTRATOR: 1, VisibilityLevel.HIERARCHY: 2}


def get_visibility_for_sensitivity(sensitivity: SensitivityLevel) -> VisibilityLevel:
    """The widest visibility that data of this sensitivity may have."""
    return SENSITIVITY_VISIBILITY_MAP[require_enum(sensitivity, SensitivityLevel, "sensitivity")]


def is_visibility_allowed(requested: VisibilityLevel, sensitivity: SensitivityLevel) -> bool:
    """True when ``requested`` is at least as restrictive as the map entry for ``sensitivity``."""
    requested = require_enum(requested, VisibilityLevel, "requested visibility")
    return _RESTRICTIVENESS[requested] <= _RESTRICTIVENESS[get_visibility_for_sensitivity(sensitivity)]
