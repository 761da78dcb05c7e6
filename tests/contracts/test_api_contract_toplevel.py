"""Acceptance tests for API contract §8 (the top-level ``llmteam`` package), from the contract text only."""

from __future__ import annotations

import subprocess
import sys

import pytest

LICENSING = ["LicenseTier", "LicenseLimits", "LICENSE_LIMITS", "TIER_LIMITS", "License", "LicenseManager",
             "get_license_manager", "activate", "get_tier", "has_feature", "print_license_status",
             "LicenseValidationError", "LicenseExpiredError", "FeatureNotLicensedError", "professional_only",
             "enterprise_only"]
EXECUTION = ["ExecutionMode", "ExecutorConfig", "TaskResult", "ExecutionStats", "PipelineExecutor"]
ROLES = ["OrchestratorRole", "OrchestrationDecision", "OrchestrationContext", "OrchestrationStrategy",
         "RuleBasedStrategy", "LLMBasedStrategy", "ProcessEvent", "ProcessMetrics", "ProcessModel",
         "ProcessMiningEngine", "PipelineOrchestrator", "GroupDecisionType", "GroupOrchestrationDecision",
         "PipelineStatus", "GroupOrchestrationStrategy", "LoadBalancingStrategy", "ContentBasedRoutingStrategy",
         "ParallelFanOutStrategy", "GroupOrchestrator"]
NAMED = {
    "llmteam.tenancy": ["TenantConfig", "TenantContext", "TenantManager", "TenantTier", "TenantLimits",
                        "current_tenant"],
    "llmteam.audit": ["AuditTrail", "AuditRecord", "AuditQuery", "AuditEventType", "AuditSeverity"],
    "llmteam.context": ["SecureAgentContext", "ContextAccessPolicy", "SealedData", "VisibilityLevel",
                        "SensitivityLevel", "ContextScope", "HierarchicalContext", "ContextManager",
                        "ContextPropagationConfig"],
    "llmteam.ratelimit": ["RateLimiter", "RateLimitConfig", "RateLimitStrategy", "CircuitBreakerConfig",
                          "CircuitState", "RateLimitedExecutor"],
}
WHOLE = {"llmteam.licensing": LICENSING, "llmteam.execution": EXECUTION, "llmteam.roles": ROLES}


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_version() -> None:
    import llmteam

    assert isinstance(llmteam.__version__, str) and llmteam.__version__[0].isdigit()


def test_import_is_lazy() -> None:
    out = _run(
        "import sys, llmteam\n"
        "print(sorted(m for m in sys.modules if m.startswith('llmteam.') and not m.startswith('llmteam._')))"
    )
    assert out == "[]", f"import llmteam eagerly imported {out}"


def test_import_pulls_no_heavy_dependency_even_after_access() -> None:
    out = _run(
        "import sys, llmteam\n"
        "llmteam.LicenseManager; llmteam.PipelineExecutor; llmteam.TenantManager; llmteam.SecureAgentContext\n"
        "llmteam.PipelineOrchestrator\n"
        "print([m for m in ('asyncpg', 'redis', 'cryptography', 'httpx') if m in sys.modules])"
    )
    assert out == "[]"


@pytest.mark.parametrize(
    ("module", "name"),
    [(m, n) for m, names in {**NAMED, **WHOLE}.items() for n in names],
)
def test_every_contract_name_resolves_to_the_module_object(module: str, name: str) -> None:
    import importlib

    import llmteam

    assert getattr(llmteam, name) is getattr(importlib.import_module(module), name)


def test_from_import_style() -> None:
    out = _run(
        "from llmteam import LicenseTier, TenantContext, current_tenant, PipelineExecutor, ExecutorConfig\n"
        "from llmteam import RuleBasedStrategy, ContextManager, TIER_LIMITS, LICENSE_LIMITS\n"
        "assert TIER_LIMITS is LICENSE_LIMITS\n"
        "with TenantContext('t'):\n"
        "    assert current_tenant.get() == 't'\n"
        "print(LicenseTier.ENTERPRISE)"
    )
    assert out == "enterprise"


def test_dir_lists_contract_names() -> None:
    import llmteam

    listed = set(dir(llmteam))
    for names in (*NAMED.values(), *WHOLE.values()):
        assert set(names) <= listed


def test_unknown_name_is_attribute_error() -> None:
    import llmteam

    with pytest.raises(AttributeError):
        llmteam.DefinitelyNotAName  # noqa: B018
    assert not hasattr(llmteam, "definitely_not_a_name")
