"""The backend parametrisation every store contract suite shares: memory, a SQLite file, real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backend a contract test runs against; the postgres case needs the real server (see tests/conftest.py)."""
    return str(request.param)


@pytest.fixture
def backend_pg_pool(store_backend: str, request: pytest.FixtureRequest) -> Any:
    """This test's asyncpg pool (a private schema) in the postgres case, else None; requested only when needed."""
    return request.getfixturevalue("pg_pool") if store_backend == "postgres" else None
