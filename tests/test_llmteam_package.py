"""The top-level package: lazy, fast, and re-exporting exactly what the contract lists."""

from __future__ import annotations

import subprocess
import sys

import pytest

import llmteam

HEAVY = ("asyncpg", "redis", "cryptography", "httpx")


def test_version() -> None:
    assert isinstance(llmteam.__version__, str) and llmteam.__version__


def test_import_pulls_in_no_optional_dependency() -> None:
    code = f"import sys, llmteam; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


@pytest.mark.parametrize("module", ["tenancy", "audit", "context", "ratelimit", "licensing", "execution", "roles"])
def test_core_module_import_pulls_in_no_optional_dependency(module: str) -> None:
    code = f"import sys, llmteam.{module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        llmteam.no_such_name  # noqa: B018


def test_named_reexports_resolve_to_the_module_objects() -> None:
    import importlib

    for name, module_name in llmteam._NAMED.items():
        assert getattr(llmteam, name) is getattr(importlib.import_module(module_name), name)


def test_whole_modules_are_reexported_except_require_decorators() -> None:
    import importlib

    for module_name in llmteam._WHOLE_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name in ("require_tier", "require_professional", "require_enterprise"):
                continue
            assert getattr(llmteam, name) is getattr(module, name), name
    assert "require_tier" not in dir(llmteam)
