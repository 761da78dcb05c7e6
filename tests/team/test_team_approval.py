"""In process, ``Agent(approval=True)`` asks the runtime's approver before each step: a yes runs it, a no, a
failing approver, no approver or the deadline fail the run; each decision is one record in the audit chain."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team, TeamConfigError, team_from_dict
from llmteam.team._approval import ApprovalDeniedError
from llmteam.tools import ApprovalDecision, ToolRequest


def gated(timeout: float | None = None) -> Team:
    return Team("gated", llm=ScriptedLLM(default="ok"), agents=[
        Agent("draft", prompt="Draft {query}"),
        Agent("send", prompt="Send {draft}", approval=True, approval_timeout=timeout),
    ])


async def decisions(rt: Any, run_id: str) -> list[Any]:
    async with rt.tenants.context("acme"):
        found = await rt.audit.query(AuditQuery(run_id=run_id, limit=100))
    return [r for r in found if r.event_type.value.startswith("approval.")]


async def test_the_approver_is_asked_before_the_step_and_its_yes_is_audited_once() -> None:
    asked: list[ToolRequest] = []

    async def approver(request: ToolRequest) -> bool:
        asked.append(request)
        return True

    async with gated().runtime("memory://", tenant="acme", approver=approver) as rt:
        result = await rt.run({"query": "q"}, run_id="r1")
        assert [s.agent for s in result.steps] == ["draft", "send"]
        [request] = asked
        assert (request.agent, request.tool, request.call_id, request.run_id) == ("send", "agent:send", "agent:2", "r1")
        [record] = await decisions(rt, "r1")
        assert (record.event_type, record.step_name, record.success) == (AuditEventType.APPROVAL_GRANTED, "agent:2",
                                                                        True)
        assert await rt.verify_audit() == (True, [])


@pytest.mark.parametrize("approver, who, why, event", [
    (None, "llmteam", "no approver is configured", AuditEventType.APPROVAL_REJECTED),
    (lambda r: asyncio.sleep(0, False), "approver", "the approver refused it", AuditEventType.APPROVAL_REJECTED),
    (lambda r: asyncio.sleep(0, ApprovalDecision(False, "bob", "not now")), "bob", "not now",
     AuditEventType.APPROVAL_REJECTED),
    (lambda r: asyncio.sleep(30, True), "deadline", "no decision before the deadline", AuditEventType.APPROVAL_TIMEOUT),
])
async def test_no_yes_fails_the_run_naming_who_and_why(approver: Any, who: str, why: str,
                                                       event: AuditEventType) -> None:
    async with gated(timeout=0.2).runtime("memory://", tenant="acme", approver=approver) as rt:
        with pytest.raises(ApprovalDeniedError, match=f"step 2.*denied by '{who}': {why}"):
            await rt.run({"query": "q"}, run_id="r1")
        [record] = await decisions(rt, "r1")
        assert (record.event_type, record.actor_id, record.metadata["reason"]) == (event, who, why)
        run = await rt.get_run("r1")
        assert run is not None and run.status == "failed" and run.usage.requests == 1  # the first step only


async def test_a_failing_approver_refuses() -> None:
    async def approver(request: ToolRequest) -> bool:
        raise RuntimeError("approver down")

    async with gated().runtime("memory://", tenant="acme", approver=approver) as rt:
        with pytest.raises(ApprovalDeniedError, match="the approver failed \\(RuntimeError\\)"):
            await rt.run({"query": "q"})


@pytest.mark.parametrize("fields, fragment", [
    ({"approval": "yes"}, "approval='yes' must be true or false"),
    ({"approval_timeout": 0}, "approval_timeout=0 must be a positive number"),
    ({"approval_timeout": True}, "approval_timeout=True must be a positive number"),
    ({"approval_timeout": float("inf")}, "approval_timeout=inf must be a positive number"),
])
def test_bad_approval_settings_are_refused(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TeamConfigError, match=fragment):
        Agent("a", prompt="p", **fields)


def test_yaml_declares_approval() -> None:
    team = team_from_dict({"team": "t", "llm": {"provider": "scripted", "default": "ok"}, "agents": [
        {"name": "a", "prompt": "p", "approval": True, "approval_timeout": 30}]})
    assert (team.agents[0].approval, team.agents[0].approval_timeout) == (True, 30)
    with pytest.raises(TeamConfigError, match="approval must be bool"):
        team_from_dict({"team": "t", "llm": {"provider": "scripted"}, "agents": [
            {"name": "a", "prompt": "p", "approval": "yes"}]})


async def test_a_decision_is_recorded_once_however_often_its_step_re_executes() -> None:
    from llmteam.team._approval import ApprovalRequest, audit_decision

    async with gated().runtime("memory://", tenant="acme", approver=lambda r: asyncio.sleep(0, True)) as rt:
        await rt.run({"query": "q"}, run_id="r1")
        run: Any = type("Run", (), {"trail": rt.audit, "run_id": "r1", "team": rt.team})()
        request = ApprovalRequest("acme", "r1", 2, "agent:2", "send", None)
        async with rt.tenants.context("acme"):
            first = await audit_decision(run, request, "approved", "approver", "")
            again = await audit_decision(run, request, "approved", "approver", "")  # a re-executed step
        assert first.sequence_number == again.sequence_number
        assert len(await decisions(rt, "r1")) == 1


async def test_a_denial_typed_as_text_is_a_denial() -> None:
    """``ApprovalDecision("false", ...)`` (a web form's field) was truthy: the denied step ran, audited as approved."""
    llm = ScriptedLLM(default="wire sent")
    team = Team("t", llm=llm, agents=[Agent("pay", prompt="wire money for {q}", approval=True)])

    async def approver(request: ToolRequest) -> ApprovalDecision:
        form = {"granted": "false", "who": "alice", "why": "looks like fraud"}
        return ApprovalDecision(form["granted"], form["who"], form["why"])  # type: ignore[arg-type]

    async with team.runtime("memory://", tenant="acme", approver=approver) as rt:
        with pytest.raises(ApprovalDeniedError, match=r"denied by 'approver': the approver failed \(TypeError\)"):
            await rt.run({"q": "x"}, run_id="r1")
        [record] = await decisions(rt, "r1")
    assert record.event_type == AuditEventType.APPROVAL_REJECTED and not record.success
    assert not llm.calls


@pytest.mark.parametrize("answer, why", [
    ("yes", "the approver answered 'yes' (str), not True, False or an ApprovalDecision"),
    (1, "the approver answered 1 (int), not True, False or an ApprovalDecision"),
    (None, "the approver answered None (NoneType), not True, False or an ApprovalDecision"),
])
async def test_an_answer_that_is_not_a_decision_is_a_denial_saying_what_came_back(answer: Any, why: str) -> None:
    llm = ScriptedLLM(default="ok")
    team = Team("t", llm=llm, agents=[Agent("pay", prompt="p {q}", approval=True)])
    async with team.runtime("memory://", tenant="acme", approver=lambda r: asyncio.sleep(0, answer)) as rt:
        with pytest.raises(ApprovalDeniedError, match=why.replace("(", r"\(").replace(")", r"\)")):
            await rt.run({"q": "x"}, run_id="r1")
        [record] = await decisions(rt, "r1")
    assert record.event_type == AuditEventType.APPROVAL_REJECTED and record.metadata["reason"] == why
    assert not llm.calls


async def test_a_decision_forged_past_its_check_grants_nothing() -> None:
    forged = ApprovalDecision(False, "mallory")
    object.__setattr__(forged, "granted", "true")  # a frozen dataclass written around its __post_init__
    llm = ScriptedLLM(default="ok")
    team = Team("t", llm=llm, agents=[Agent("pay", prompt="p {q}", approval=True)])
    async with team.runtime("memory://", tenant="acme", approver=lambda r: asyncio.sleep(0, forged)) as rt:
        with pytest.raises(ApprovalDeniedError, match="granted='true', not True or False"):
            await rt.run({"q": "x"}, run_id="r1")
        [record] = await decisions(rt, "r1")
    assert record.event_type == AuditEventType.APPROVAL_REJECTED and not llm.calls
