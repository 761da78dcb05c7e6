"""llmteam.context -- each agent's working context, shown to others only as far as policy allows.

An agent keeps its state in a :class:`SecureAgentContext` (status, confidence, reasoning, data). Anyone else sees
it through ``get_visible_context(viewer_id, viewer_role)``, filtered by the context's
:class:`ContextAccessPolicy`, whose seven ordered rules fail closed:

1. agents never see each other (role ``"agent"``);   2. sealed fields are never visible;
3. explicitly denied viewers are refused (``allowed_viewers`` overrides);   4. SECRET / TOP_SECRET: owner only;
5. CONFIDENTIAL: only ``pipeline_orch`` (the direct orchestrator, when one is named) or ``system``;
6. any other unknown or empty role is refused;   7. otherwise access is granted.

Values stored with ``set_sealed`` are :class:`SealedData`: only the owning agent can read them; they never appear in
repr, str, logs, error messages, ``copy``/``deepcopy`` (same object), ``dataclasses.asdict``, pickle (TypeError) or
``to_dict`` unless the owner asks. With ``audit_access=True`` and an audit trail, sealed reads, denials and views are
recorded in :mod:`llmteam.audit` without ever raising, even with no running event loop.

:class:`ContextManager` links agent, pipeline and group contexts into a tree (:class:`HierarchicalContext`) and
propagates fields up (aggregated: sum, avg, max, min, worst, last -- idempotent) and down (copied)::

    from llmteam.context import create_secure_context, SensitivityLevel, ROLE_PIPELINE_ORCH

    ctx = create_secure_context("agent-1", "triage", sensitivity=SensitivityLevel.INTERNAL)
    ctx.set_sealed("api_key", "sk-...")
    ctx.update_status("running")
    ctx.get_visible_context("orch-1", ROLE_PIPELINE_ORCH)   # status etc., "sealed_fields": ["api_key"]
    ctx.get_visible_context("agent-2", "agent")             # {"access": "denied", ...}
    ctx.get_sealed("api_key", "agent-1")                    # "sk-..." (anyone else: SealedDataAccessError)
"""

from __future__ import annotations

from llmteam.context._errors import AuditBacklogError, ContextAccessError, SealedDataAccessError
from llmteam.context._hierarchy import ContextPropagationConfig, ContextScope, HierarchicalContext
from llmteam.context._levels import (
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
from llmteam.context._manager import ContextManager
from llmteam.context._policy import ContextAccessPolicy, ContextAccessResult
from llmteam.context._sealed import SealedData
from llmteam.context._secure import SecureAgentContext, create_secure_context

__all__ = [
    "ROLE_AGENT",
    "ROLE_GROUP_ORCH",
    "ROLE_PIPELINE_ORCH",
    "ROLE_SYSTEM",
    "SENSITIVITY_VISIBILITY_MAP",
    "AuditBacklogError",
    "ContextAccessError",
    "ContextAccessPolicy",
    "ContextAccessResult",
    "ContextManager",
    "ContextPropagationConfig",
    "ContextScope",
    "HierarchicalContext",
    "SealedData",
    "SealedDataAccessError",
    "SecureAgentContext",
    "SensitivityLevel",
    "VisibilityLevel",
    "create_secure_context",
    "get_visibility_for_sensitivity",
    "is_visibility_allowed",
]
