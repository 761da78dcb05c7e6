"""Attack on tenant limits (issue 11, item 15): a NaN count must not pass enforce_limit while check_limit refuses it."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tenancy import TenantConfig, TenantLimitExceededError, TenantManager, TenantTier
from llmteam.tenancy.stores import MemoryTenantStore

LIMIT_TYPES = ["concurrent_pipelines", "agents_per_pipeline", "requests_per_minute", "runs_per_day", "no_such_limit"]
VALUES = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=True, allow_infinity=True))


async def _manager(active: bool = True) -> TenantManager:
    manager = TenantManager(MemoryTenantStore())
    await manager.create_tenant(TenantConfig("acme", "Acme", tier=TenantTier.FREE, is_active=active))
    return manager


async def _decisions(manager: TenantManager, limit_type: str, value: float) -> tuple[bool, bool]:
    allowed = await manager.check_limit("acme", limit_type, value)
    try:
        await manager.enforce_limit("acme", limit_type, value)
    except TenantLimitExceededError:
        return allowed, False
    return allowed, True


@pytest.mark.parametrize("limit_type", LIMIT_TYPES[:4])
async def test_nan_count_is_over_every_limit(limit_type: str) -> None:
    manager = await _manager()
    assert await manager.check_limit("acme", limit_type, math.nan) is False
    with pytest.raises(TenantLimitExceededError):
        await manager.enforce_limit("acme", limit_type, math.nan)


@settings(max_examples=300, deadline=None)
@given(value=VALUES, limit_type=st.sampled_from(LIMIT_TYPES), active=st.booleans())
def test_check_and_enforce_are_one_rule(value: float, limit_type: str, active: bool) -> None:
    async def scenario() -> tuple[bool, bool]:
        return await _decisions(await _manager(active), limit_type, value)

    allowed, enforced = asyncio.run(scenario())
    assert allowed == enforced, f"check_limit={allowed} but enforce_limit passes={enforced} for {value!r}"
