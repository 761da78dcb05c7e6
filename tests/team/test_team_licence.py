"""Licence checks follow the gating policy: refuse when LLMTEAM_LICENSE_ENFORCE=1, otherwise log and go on."""

from __future__ import annotations

import logging
from pathlib import Path

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


async def test_the_runtimes_own_licence_decides_every_gate_under_enforcement(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", "1")  # the built-in gates count too; no process-wide licence
    manager = LicenseManager(tier=LicenseTier.ENTERPRISE)
    async with team(1).runtime(f"sqlite:///{tmp_path}/lic.db", tenant="x", license_manager=manager,
                               auto_create_tenant="enterprise") as rt:
        assert (await rt.run({})).output == "x"  # its licence, not the process's, opened the tenants and audit


async def test_an_open_that_fails_half_way_leaves_no_backend_open(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from llmteam.backends import _base
    from llmteam.team import _runtime

    def broken(backend: object) -> object:
        raise RuntimeError("run store unavailable")

    monkeypatch.setattr(_runtime, "open_run_store", broken)
    before = dict(_base._SHARED)
    rt = team(1).runtime(f"sqlite:///{tmp_path}/half.db", tenant="x")
    for _ in range(3):
        with pytest.raises(RuntimeError, match="run store unavailable"):
            await rt.open()
    await rt.close()
    assert _base._SHARED == before  # the backend the failed opens took is released each time
