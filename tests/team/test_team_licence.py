"""Licence checks follow the gating policy: refuse when LLMTEAM_LICENSE_ENFORCE=1, otherwise log and go on."""

from __future__ import annotations

import logging

import pytest

from llmteam.licensing import FeatureNotLicensedError, LicenseManager, LicenseTier
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team
from llmteam.team._licence import LicenceCheck


def team(n: int) -> Team:
    return Team("t", llm=ScriptedLLM(default="x"), agents=[Agent(f"a{i}", prompt="p") for i in range(n)])


async def test_enforced_community_refuses_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")
    with pytest.raises(FeatureNotLicensedError) as info:
        await team(1).runtime("memory://", tenant="x").open()
    assert info.value.required_tier is LicenseTier.ENTERPRISE and "TeamRuntime" in str(info.value)


async def test_enforced_enterprise_runs_but_agent_limit_applies() -> None:
    manager = LicenseManager(tier=LicenseTier.ENTERPRISE)
    async with team(6).runtime("memory://", tenant="x", license_manager=manager, enforce_license=True,
                               auto_create_tenant="enterprise") as rt:
        result = await rt.run({})
        assert len(result.steps) == 6
    pro = LicenceCheck(LicenseManager(tier=LicenseTier.PROFESSIONAL), enforce=True)
    pro.check_agents("t", 20)
    with pytest.raises(FeatureNotLicensedError, match="21 agents"):
        pro.check_agents("t", 21)


async def test_not_enforced_logs_once_and_runs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llmteam.team._licence")
    check = LicenceCheck(LicenseManager(tier=LicenseTier.COMMUNITY), enforce=False)
    assert check.tier is LicenseTier.COMMUNITY
    for _ in range(3):
        check.check_open()
        check.check_agents("t", 6)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "ENTERPRISE" in messages[0] and "6 agents" in messages[1]
    async with team(2).runtime("memory://", tenant="x") as rt:  # default: env not set -> not enforced
        assert rt.licence.enforce is False
        await rt.run({})
