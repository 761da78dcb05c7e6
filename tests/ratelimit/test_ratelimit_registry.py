from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pytest

from llmteam.ratelimit import MemoryRateLimitBackend, RedisRateLimitBackend, backend_from_url
from llmteam.ratelimit._registry import resolve_backend


def test_urls_pick_backends() -> None:
    assert isinstance(backend_from_url("memory://"), MemoryRateLimitBackend)
    redis_backend = backend_from_url("redis://127.0.0.1:6379/3", prefix="p", fallback_to_local=True)
    assert isinstance(redis_backend, RedisRateLimitBackend) and redis_backend.fallback_to_local
    with pytest.raises(ValueError, match="ftp"):
        backend_from_url("ftp://x")
    with pytest.raises(ValueError, match="no options"):
        backend_from_url("memory://", prefix="x")
    assert resolve_backend(None) is None
    with pytest.raises(TypeError, match="42"):
        resolve_backend(42)  # type: ignore[arg-type]


def test_import_is_light_and_scripts_ship_as_resources() -> None:
    code = "import sys, llmteam.ratelimit; print([m for m in ('redis', 'asyncpg', 'httpx') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    lua = resources.files("llmteam.ratelimit").joinpath("lua")
    assert "redis.call" in lua.joinpath("acquire.lua").read_text()
    assert "redis.call" in lua.joinpath("circuit_cas.lua").read_text()
