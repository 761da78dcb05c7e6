"""Hierarchical contexts (agent -> pipeline -> group) and the configuration of what propagates between levels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from llmteam.context._secure import SecureAgentContext, copy_entries
from llmteam.context._validate import require_enum, require_optional_str, require_str

__all__ = ["AGGREGATION_RULES", "ContextPropagationConfig", "ContextScope", "HierarchicalContext"]

#: The aggregation rules propagate_up understands.
AGGREGATION_RULES = frozenset({"sum", "avg", "max", "min", "worst", "last"})


class ContextScope(Enum):
    """The level a hierarchical context belongs to."""

    AGENT = "agent"
    PIPELINE = "pipeline"
    GROUP = "group"


@dataclass
class HierarchicalContext:
    """One node of the context tree: its own data, its children, and optionally an agent's secure context."""

    scope: ContextScope
    owner_id: str
    parent_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    children: dict[str, HierarchicalContext] = field(default_factory=dict)
    secure_context: SecureAgentContext | None = None
    created_at: datetime = field(default_factory=datetime.now)
    updated_at: datetime = field(default_factory=datetime.now)
    access_count: int = 0

    def __post_init__(self) -> None:
        require_enum(self.scope, ContextScope, "scope")
        require_str(self.owner_id, "owner_id")
        require_optional_str(self.parent_id, "parent_id")
        if not isinstance(self.data, dict) or not isinstance(self.children, dict):
            raise TypeError(f"data and children must be dicts, got {self.data!r} and {self.children!r}")
        if self.secure_context is not None and not isinstance(self.secure_context, SecureAgentContext):
            raise TypeError(f"secure_context must be a SecureAgentContext or None, got {self.secure_context!r}")

    def get_child_context(self, child_id: str) -> HierarchicalContext | None:
        """The direct child with this owner id, or None."""
        return self.children.get(child_id)

    def set_child_context(self, child_id: str, ctx: HierarchicalContext) -> None:
        """Attach ``ctx`` as a direct child and point its parent_id here."""
        require_str(child_id, "child_id")
        if not isinstance(ctx, HierarchicalContext):
            raise TypeError(f"child context must be a HierarchicalContext, got {ctx!r}")
        if ctx is self:
            raise ValueError(f"context {self.owner_id!r} cannot be its own child")
        self.children[child_id] = ctx
        ctx.parent_id = self.owner_id
        self.updated_at = datetime.now()

    def remove_child_context(self, child_id: str) -> None:
        """Detach a direct child; a no-op when absent."""
        if self.children.pop(child_id, None) is not None:
            self.updated_at = datetime.now()

    def get_visible_children(self, viewer_id: str, viewer_role: str) -> dict[str, dict[str, Any]]:
        """Each child as this viewer may see it: a secure context's filtered view, or a plain child's summary."""
        require_str(viewer_id, "viewer_id")
        require_str(viewer_role, "viewer_role")
        self.access_count += 1
        visible: dict[str, dict[str, Any]] = {}
        for child_id, child in self.children.items():
            secure = child.secure_context
            if secure is None:
                visible[child_id] = child.get_summary()
                continue
            allowed, reason = secure.access_policy.can_access(viewer_id, viewer_role)
            if allowed:
                visible[child_id] = secure.get_visible_context(viewer_id, viewer_role)
            else:
                if secure._auditor is not None and secure.access_policy.audit_access:
                    secure._audit_check(viewer_id, viewer_role, False, reason, "view_child_context")
                visible[child_id] = {"access": "denied", "reason": reason}
        return visible

    def get_summary(self) -> dict[str, Any]:
        """A data-free summary: scope, owner, number of children, last update and access count."""
        return {
            "scope": self.scope.value,
            "owner_id": self.owner_id,
            "children_count": len(self.children),
            "updated_at": self.updated_at.isoformat(),
            "access_count": self.access_count,
        }

    def to_dict(self) -> dict[str, Any]:
        """Serialise this node (children are counted, not included); ``data`` is a deep copy."""
        return {
            "scope": self.scope.value,
            "owner_id": self.owner_id,
            "parent_id": self.parent_id,
            "data": copy_entries(self.data),
            "children_count": len(self.children),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "access_count": self.access_count,
        }


def _require_rule(rule: Any) -> str:
    if rule not in AGGREGATION_RULES:
        raise ValueError(f"unknown aggregation rule {rule!r}; use one of {', '.join(sorted(AGGREGATION_RULES))}")
    return str(rule)


@dataclass
class ContextPropagationConfig:
    """Which data fields flow up (aggregated) and down (copied) the context tree."""

    propagate_up: list[str] = field(default_factory=lambda: ["status", "confidence", "error_count"])
    propagate_down: list[str] = field(default_factory=lambda: ["global_config", "shared_state"])
    aggregation_rules: dict[str, str] = field(
        default_factory=lambda: {"confidence": "avg", "error_count": "sum", "status": "worst"}
    )

    def add_propagate_up(self, field_name: str, aggregation: str = "last") -> None:
        """Propagate ``field_name`` up under ``aggregation`` (sum, avg, max, min, worst or last)."""
        require_str(field_name, "field_name")
        self.aggregation_rules[field_name] = _require_rule(aggregation)
        if field_name not in self.propagate_up:
            self.propagate_up.append(field_name)

    def add_propagate_down(self, field_name: str) -> None:
        """Copy ``field_name`` from parents to children."""
        if require_str(field_name, "field_name") not in self.propagate_down:
            self.propagate_down.append(field_name)

    def remove_propagate_up(self, field_name: str) -> None:
        """Stop propagating ``field_name`` up and forget its rule."""
        while field_name in self.propagate_up:
            self.propagate_up.remove(field_name)
        self.aggregation_rules.pop(field_name, None)

    def remove_propagate_down(self, field_name: str) -> None:
        """Stop copying ``field_name`` down."""
        while field_name in self.propagate_down:
            self.propagate_down.remove(field_name)

    def set_aggregation_rule(self, field_name: str, rule: str) -> None:
        """Set the rule used to aggregate ``field_name`` over the children."""
        self.aggregation_rules[require_str(field_name, "field_name")] = _require_rule(rule)

    def get_aggregation_rule(self, field_name: str) -> str:
        """The rule for ``field_name``, ``"last"`` when none is set."""
        return self.aggregation_rules.get(field_name, "last")
