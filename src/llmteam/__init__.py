"""llmteam: an enterprise runtime for multi-agent LLM pipelines.

Seven core modules give the guarantees (``tenancy``, ``audit``, ``context``, ``ratelimit``, ``licensing``,
``execution``, ``roles``); ``llmteam.team`` wires them around agents; ``llmteam.llm`` holds the providers.
Importing this package is cheap: every public name is resolved lazily on first access (PEP 562), and no
optional dependency (asyncpg, redis, cryptography, httpx) is imported until it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Names re-exported from every module except licensing, execution and roles, which are re-exported whole
# (licensing less its require_* decorators) through _WHOLE_MODULES below.
_NAMED: dict[str, str] = {
    **dict.fromkeys(
        ["LLMTeamError", "StoreURLError", "StoreConnectionError", "SchemaVersionError"], "llmteam._exceptions"
    ),
    **dict.fromkeys(
        ["TenantConfig", "TenantContext", "TenantManager", "TenantTier", "TenantLimits", "current_tenant"],
        "llmteam.tenancy",
    ),
    **dict.fromkeys(["AuditTrail", "AuditRecord", "AuditQuery", "AuditEventType", "AuditSeverity"], "llmteam.audit"),
    **dict.fromkeys(
        [
            "SecureAgentContext", "ContextAccessPolicy", "SealedData", "VisibilityLevel", "SensitivityLevel",
            "ContextScope", "HierarchicalContext", "ContextManager", "ContextPropagationConfig",
        ],
        "llmteam.context",
    ),
    **dict.fromkeys(
        [
            "RateLimiter", "RateLimitConfig", "RateLimitStrategy", "CircuitBreakerConfig", "CircuitState",
            "RateLimitedExecutor",
        ],
        "llmteam.ratelimit",
    ),
}
_WHOLE_MODULES = ("llmteam.licensing", "llmteam.execution", "llmteam.roles")
_EXCLUDED = frozenset({"require_tier", "require_professional", "require_enterprise"})


def _whole_module_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for mod_name in _WHOLE_MODULES:
        module = importlib.import_module(mod_name)
        for name in getattr(module, "__all__", ()):
            if name not in _EXCLUDED:
                names.setdefault(name, mod_name)
    return names


def __getattr__(name: str) -> Any:
    module_name = _NAMED.get(name)
    if module_name is None and not name.startswith("__"):
        module_name = _whole_module_names().get(name)
    if module_name is None:
        raise AttributeError(f"module 'llmteam' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMED, *_whole_module_names()})
