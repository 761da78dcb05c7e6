"""ContextAccessPolicy: who may see an agent's context, decided by seven ordered rules (first match wins)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from llmteam.context._levels import (
    ORCHESTRATOR_ROLES,
    ROLE_AGENT,
    ROLE_PIPELINE_ORCH,
    ROLE_SYSTEM,
    SensitivityLevel,
    VisibilityLevel,
)
from llmteam.context._validate import plain_str, require_enum, require_optional_str, require_str, to_set

__all__ = ["ContextAccessPolicy", "ContextAccessResult"]

_PUBLIC = SensitivityLevel.PUBLIC
_INTERNAL = SensitivityLevel.INTERNAL
_CONFIDENTIAL = SensitivityLevel.CONFIDENTIAL
_OWNER_ONLY = frozenset({SensitivityLevel.SECRET, SensitivityLevel.TOP_SECRET})
_CONFIDENTIAL_ROLES = frozenset({ROLE_PIPELINE_ORCH, ROLE_SYSTEM})
_GRANTED = (True, "Access granted")
_HORIZONTAL = (False, "Horizontal access between agents is forbidden")
_ROLE_LIST = ", ".join(sorted(ORCHESTRATOR_ROLES))

# Field name -> checker run on every assignment (construction included), so a policy never holds a value
# its rules cannot evaluate.
_SET_FIELDS = frozenset({"denied_viewers", "allowed_viewers", "sealed_fields"})


@dataclass
class ContextAccessResult:
    """The outcome of a field-by-field access check."""

    allowed: bool
    reason: str
    fields_granted: set[str] = field(default_factory=set)
    fields_denied: set[str] = field(default_factory=set)


@dataclass
class ContextAccessPolicy:
    """Decides whether a viewer (id + role) may see an agent's context or one of its fields.

    Fail closed: agents never see each other, sealed fields are never visible, unknown or empty roles are denied.
    """

    default_visibility: VisibilityLevel = VisibilityLevel.ORCHESTRATOR
    denied_viewers: set[str] = field(default_factory=set)
    allowed_viewers: set[str] = field(default_factory=set)
    sealed_fields: set[str] = field(default_factory=set)
    sensitivity: SensitivityLevel = SensitivityLevel.INTERNAL
    audit_access: bool = False
    encrypt_sealed: bool = False
    direct_orchestrator_id: str | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "sensitivity":
            value = require_enum(value, SensitivityLevel, "sensitivity")
        elif name == "default_visibility":
            value = require_enum(value, VisibilityLevel, "default_visibility")
        elif name in _SET_FIELDS:
            value = to_set(value, name)
        elif name == "direct_orchestrator_id":
            value = require_optional_str(value, "direct_orchestrator_id")
        elif name in ("audit_access", "encrypt_sealed") and not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
        object.__setattr__(self, name, value)

    def can_access(self, viewer_id: str, viewer_role: str, field_name: str | None = None) -> tuple[bool, str]:
        """Apply the seven rules in order and return ``(allowed, reason)``; the first matching rule wins."""
        if type(viewer_role) is not str:  # str subclasses (e.g. a str Enum) compare by their plain value
            viewer_role = plain_str(viewer_role, "viewer_role")
        if type(viewer_id) is not str:
            viewer_id = plain_str(viewer_id, "viewer_id")
        if viewer_role == ROLE_AGENT:  # 1
            return _HORIZONTAL
        if field_name is not None:
            if type(field_name) is not str:
                field_name = plain_str(field_name, "field_name")
            if field_name in self.sealed_fields:  # 2
                return False, f"Field '{field_name}' is sealed"
        if viewer_id in self.denied_viewers and viewer_id not in self.allowed_viewers:  # 3
            return False, f"Viewer '{viewer_id}' is explicitly denied"
        sensitivity = self.sensitivity
        if sensitivity in _OWNER_ONLY:  # 4
            return False, f"Sensitivity '{sensitivity.value}' is visible to its owner only"
        if sensitivity is _CONFIDENTIAL:  # 5
            if viewer_role not in _CONFIDENTIAL_ROLES:
                return False, f"Confidential context is not visible to role {viewer_role!r}"
            direct = self.direct_orchestrator_id
            if viewer_role == ROLE_PIPELINE_ORCH and direct is not None and viewer_id != direct:
                return False, "Confidential context is visible only to its direct orchestrator"
        elif sensitivity is not _PUBLIC and sensitivity is not _INTERNAL:  # unreachable unless bypassed: fail closed
            return False, f"Unknown sensitivity {sensitivity!r}"
        if viewer_role not in ORCHESTRATOR_ROLES:  # 6
            return False, f"Unknown viewer role {viewer_role!r}; expected one of {_ROLE_LIST}"
        return _GRANTED  # 7

    def check_access(
        self, viewer_id: str, viewer_role: str, requested_fields: Iterable[str] | None = None
    ) -> ContextAccessResult:
        """Check the context as a whole, then each requested field; allowed only if no field is denied."""
        fields = set() if requested_fields is None else to_set(requested_fields, "requested_fields").copy()
        allowed, reason = self.can_access(viewer_id, viewer_role)
        if not allowed:
            return ContextAccessResult(False, reason, set(), fields)
        granted: set[str] = set()
        denied: set[str] = set()
        for name in fields:
            (granted if self.can_access(viewer_id, viewer_role, name)[0] else denied).add(name)
        if denied:
            reason = "Access denied to fields: " + ", ".join(sorted(map(str, denied)))
        return ContextAccessResult(not denied, reason, granted, denied)

    def deny_access_to(self, viewer_id: str) -> None:
        """Deny this viewer (unless it is also in allowed_viewers, which wins)."""
        self.denied_viewers.add(require_str(viewer_id, "viewer_id"))

    def allow_access_to(self, viewer_id: str) -> None:
        """Allow this viewer even if it is in denied_viewers (it still passes through every other rule)."""
        self.allowed_viewers.add(require_str(viewer_id, "viewer_id"))

    def seal_field(self, field_name: str) -> None:
        """Make this field invisible to every viewer."""
        self.sealed_fields.add(require_str(field_name, "field_name"))

    def unseal_field(self, field_name: str) -> None:
        """Make this field visible again under the other rules (no-op if it was not sealed)."""
        self.sealed_fields.discard(require_str(field_name, "field_name"))

    def set_sensitivity(self, level: SensitivityLevel) -> None:
        """Change the sensitivity of the whole context."""
        self.sensitivity = level
