"""ContextManager: a registry of hierarchical contexts with idempotent propagation up and down the tree."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from llmteam.context._hierarchy import (
    AGGREGATION_RULES,
    ContextPropagationConfig,
    ContextScope,
    HierarchicalContext,
)
from llmteam.context._secure import SecureAgentContext
from llmteam.context._validate import require_enum, require_id, require_optional_str

__all__ = ["STATUS_RANK", "ContextManager", "aggregate"]

#: "worst" ranks statuses by this table; anything else ranks 0.
STATUS_RANK = {"idle": 0, "running": 1, "completed": 2, "error": 3, "failed": 4}
_MISSING = object()


def aggregate(rule: str, field_name: str, values: list[Any], last: Any) -> Any:
    """Combine the children's ``values`` of ``field_name`` under ``rule``; ``last`` is the propagating child's."""
    if rule == "last":
        return last
    if rule == "worst":
        return max(values, key=lambda v: STATUS_RANK.get(v, 0) if isinstance(v, str) else 0)
    if rule in ("sum", "avg"):
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"cannot {rule} field {field_name!r}: value {value!r} is not a number; "
                    "store numbers or set another aggregation rule"
                )
        total = sum(values)
        return total / len(values) if rule == "avg" else total
    if rule in ("max", "min"):
        try:
            return max(values) if rule == "max" else min(values)
        except TypeError:
            raise TypeError(
                f"cannot take the {rule} of field {field_name!r}: values {values!r} are not comparable"
            ) from None
    raise ValueError(
        f"unknown aggregation rule {rule!r} for field {field_name!r}; use one of {sorted(AGGREGATION_RULES)}"
    )


class ContextManager:
    """Registers contexts by owner id, links them to their parents and propagates data between levels.

    propagate_up recomputes each field from the parent's direct children, so it is idempotent and keeps no
    helper state; propagate_down gives each child its own deep copy of the shared keys.
    """

    def __init__(self, propagation_config: ContextPropagationConfig | None = None) -> None:
        if propagation_config is not None and not isinstance(propagation_config, ContextPropagationConfig):
            raise TypeError(
                f"propagation_config must be a ContextPropagationConfig or None, got {propagation_config!r}"
            )
        self.config = propagation_config if propagation_config is not None else ContextPropagationConfig()
        self._contexts: dict[str, HierarchicalContext] = {}

    def create_context(
        self,
        scope: ContextScope,
        owner_id: str,
        parent_id: str | None = None,
        secure_context: SecureAgentContext | None = None,
    ) -> HierarchicalContext:
        """Register a context; if ``parent_id`` is registered, link it as that context's child.

        Creating an owner's context again replaces the old one: it leaves its old parent, and its children
        move to the new context, so every registered child is still reachable from its parent.
        """
        require_enum(scope, ContextScope, "scope")
        require_id(owner_id, "owner_id")
        require_optional_str(parent_id, "parent_id")
        if parent_id == owner_id:
            raise ValueError(f"context {owner_id!r} cannot be its own parent")
        ctx = HierarchicalContext(scope, owner_id, parent_id, secure_context=secure_context)
        old = self._contexts.get(owner_id)
        if old is not None:
            old_parent = None if old.parent_id is None else self._contexts.get(old.parent_id)
            if old_parent is not None:
                old_parent.remove_child_context(owner_id)
            for child_id, child in old.children.items():
                ctx.set_child_context(child_id, child)
        self._contexts[owner_id] = ctx
        parent = None if parent_id is None else self._contexts.get(parent_id)
        if parent is not None:
            parent.set_child_context(owner_id, ctx)
        return ctx

    def get_context(self, owner_id: str) -> HierarchicalContext | None:
        """The registered context of this owner, or None."""
        return self._contexts.get(owner_id)

    def remove_context(self, owner_id: str) -> None:
        """Unregister the context and all its descendants and detach it from its parent; no-op when absent."""
        ctx = self._contexts.get(owner_id)
        if ctx is None:
            return
        parent = None if ctx.parent_id is None else self._contexts.get(ctx.parent_id)
        if parent is not None:
            parent.remove_child_context(owner_id)
        seen: set[int] = set()
        stack = [(owner_id, ctx)]
        while stack:
            key, node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if self._contexts.get(key) is node:
                del self._contexts[key]
            stack.extend(node.children.items())

    def propagate_up(self, child_id: str) -> None:
        """Set each configured field on the parent from the current values of all its direct children."""
        child = self._contexts.get(child_id)
        if child is None or child.parent_id is None:
            return
        parent = self._contexts.get(child.parent_id)
        if parent is None:
            return
        siblings = list(parent.children.values())
        if not any(s is child for s in siblings):
            siblings.append(child)  # linked by parent_id only: still counts as one of the parent's children
        updates: dict[str, Any] = {}
        for name in self.config.propagate_up:
            if name not in child.data:
                continue
            values = [s.data[name] for s in siblings if name in s.data]
            updates[name] = aggregate(self.config.get_aggregation_rule(name), name, values, child.data[name])
        if any(parent.data.get(k, _MISSING) != v for k, v in updates.items()):
            parent.data.update(updates)
            parent.updated_at = datetime.now()

    def propagate_down(self, parent_id: str) -> None:
        """Give every direct child its own copy of each configured key present in the parent's data."""
        parent = self._contexts.get(parent_id)
        if parent is None:
            return
        shared = {k: parent.data[k] for k in self.config.propagate_down if k in parent.data}
        if not shared:
            return
        copies = [(child, copy.deepcopy(shared)) for child in parent.children.values()]  # all or nothing
        now = datetime.now()
        for child, values in copies:
            child.data.update(values)
            child.updated_at = now

    def get_all_contexts(self) -> dict[str, HierarchicalContext]:
        """A copy of the registry (owner id -> context)."""
        return dict(self._contexts)

    def get_root_contexts(self) -> dict[str, HierarchicalContext]:
        """The registered contexts that have no parent."""
        return {k: c for k, c in self._contexts.items() if c.parent_id is None}
