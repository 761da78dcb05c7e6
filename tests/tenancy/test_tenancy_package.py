from __future__ import annotations

import subprocess
import sys

import llmteam
import llmteam.tenancy as tenancy
import llmteam.tenancy.stores as stores


def test_exports() -> None:
    for name in tenancy.__all__ + stores.__all__:
        assert getattr(tenancy if name in tenancy.__all__ else stores, name) is not None
    assert "MemoryTenantStore" not in tenancy.__all__
    for name in ("TenantConfig", "TenantContext", "TenantManager", "TenantTier", "TenantLimits", "current_tenant"):
        assert getattr(llmteam, name) is getattr(tenancy, name)


def test_import_pulls_no_optional_dependency() -> None:
    code = (
        "import sys, llmteam.tenancy, llmteam.tenancy.stores\n"
        "print(sorted(m for m in ('asyncpg', 'redis', 'cryptography', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
