"""The model loop of an agent step: tools offered, calls governed, results fed back, rounds bounded, all audited."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import MAX_TOOL_CALLS, Completion, LLMResponseError, ScriptedLLM, ToolCall
from llmteam.team import Agent, Team, TeamConfigError, ToolLoopError
from llmteam.tools import ToolFailedError, ToolPolicy, ToolRequest, digest, tool

SECRET_TEXT = "acct-7731-zeta"
RECEIVED: list[tuple[str, dict[str, Any]]] = []


@tool
def echo(text: str) -> str:
    """Echo text back."""
    RECEIVED.append(("echo", {"text": text}))
    return text


@tool
async def lookup(number: str) -> dict:
    """Look up an invoice."""
    RECEIVED.append(("lookup", {"number": number}))
    return {"number": number, "amount": 99}


@tool
def danger(target: str) -> str:
    """Delete things."""
    RECEIVED.append(("danger", {"target": target}))
    return "deleted"


@tool
def broken() -> str:
    """Always raises."""
    raise ValueError("no such table")


@pytest.fixture(autouse=True)
def _clear() -> None:
    RECEIVED.clear()


def once_then(calls: list[ToolCall], final: str = "final answer") -> ScriptedLLM:
    def respond(messages: list[dict[str, Any]]) -> Any:
        return final if messages[-1]["role"] == "tool" else calls
    return ScriptedLLM(respond=respond)


async def audit_records(rt: Any, tenant: str = "acme") -> list[Any]:
    async with rt.tenants.context(tenant):
        assert await rt.audit.verify_chain() == (True, [])
        return await rt.audit.query(AuditQuery(limit=1000, order_by="sequence_number", order_desc=False))


async def test_results_are_fed_back_and_counted_in_usage_audit_and_mining() -> None:
    llm = once_then([ToolCall.of("lookup", {"number": "INV-1"}, id="c1")])
    team = Team("t", llm=llm, agents=[Agent("clerk", prompt="Find {q}", tools=[lookup])],
                prices={"scripted": (0.0, 0.0)})
    policy = ToolPolicy({"lookup": {"price_per_call": 0.25}})
    async with team.runtime("memory://", tenant="acme", tool_policy=policy, tool_digest_key=b"k") as rt:
        result = await rt.run({"q": "INV-1"})
        events = [e async for e in rt.event_log.iterate(tenant_id="acme")]
        records = await audit_records(rt)
    assert result.output == "final answer"
    assert (result.usage.requests, result.usage.tool_calls, result.usage.cost) == (2, 1, 0.25)
    assert result.usage_by_agent["clerk"].tool_calls == 1
    (call,) = result.steps[0].tool_calls
    assert (call.tool, call.call_id, call.decision, call.ok) == ("lookup", "c1", "allow", True)
    assert RECEIVED == [("lookup", {"number": "INV-1"})]
    (rec,) = [r for r in records if r.resource_type == "tool"]
    assert rec.event_type is AuditEventType.ACTION_COMPLETED and rec.sequence_number == call.audit_sequence
    assert rec.metadata["arguments_digest"] == digest(b"k", '{"number":"INV-1"}')
    assert [(e.activity, e.lifecycle) for e in events if e.activity.startswith("tool:")] == [
        ("tool:lookup", "start"), ("tool:lookup", "complete")]
    assert result.to_dict()["steps"][0]["tool_calls"][0]["tool"] == "lookup"
    # the second model call saw the assistant tool-call message and the tool result
    assert llm.tools_offered[-1] == ("lookup",)


async def test_the_loop_stops_after_max_tool_rounds() -> None:
    llm = ScriptedLLM(default=ToolCall.of("echo", {"text": "again"}), respond=lambda m: ToolCall.of(
        "echo", {"text": "again"}))
    team = Team("t", llm=llm, agents=[Agent("looper", prompt="Go {q}", tools=[echo], max_tool_rounds=3)])
    async with team.runtime("memory://", tenant="acme") as rt:
        with pytest.raises(ToolLoopError, match="max_tool_rounds=3"):
            await rt.run({"q": "x"})
        records = await audit_records(rt)
        (run,) = await rt.runs()
    assert len(RECEIVED) == 3 and llm.call_count == 4
    assert run.status == "failed"
    assert sum(r.event_type is AuditEventType.ACTION_COMPLETED for r in records) == 3


async def test_an_answer_asking_for_more_than_max_tool_calls_fails_the_step_before_any_call() -> None:
    """Whatever the provider (here a script, as a custom provider would build it): an answer asking for more than
    MAX_TOOL_CALLS tools at once is refused whole. It used to be governed call by call: 5,000 calls meant 5,000
    audited refusals and 5,000 tool messages sent back to the model."""
    llm = once_then([ToolCall.of("lookup", {"number": str(i)}) for i in range(5_000)])
    team = Team("t", llm=llm, agents=[Agent("clerk", prompt="Do {q}", tools=[lookup])])
    async with team.runtime("memory://", tenant="acme") as rt:
        with pytest.raises(LLMResponseError, match=f"5,000 tool calls in one answer; at most {MAX_TOOL_CALLS}"):
            await rt.run({"q": "x"})
        records = await audit_records(rt)
        (run,) = await rt.runs()
    assert run.status == "failed" and "5,000 tool calls" in (run.error or "")
    assert RECEIVED == [] and not [r for r in records if r.resource_type == "tool"]
    with pytest.raises(LLMResponseError, match="129 tool calls"):
        Completion("", tool_calls=(ToolCall.of("lookup"),) * (MAX_TOOL_CALLS + 1))
    assert len(Completion("", tool_calls=(ToolCall.of("lookup"),) * MAX_TOOL_CALLS).tool_calls) == MAX_TOOL_CALLS


class PlainProvider:
    """A provider that knows nothing about tools."""

    model = "plain"

    async def generate(self, prompt: str) -> str:
        return "plain"

    async def complete(self, messages: list[dict[str, Any]], **options: Any) -> Completion:
        assert "tools" not in options
        return Completion("plain")


def test_a_provider_without_tool_support_is_refused_when_an_agent_has_tools() -> None:
    with pytest.raises(TeamConfigError, match="does not support tool calls"):
        Agent("a", prompt="x", llm=PlainProvider(), tools=[echo])
    with pytest.raises(TeamConfigError, match="agent 'a' has tools but its provider"):
        Team("t", llm=PlainProvider(), agents=[Agent("a", prompt="x", tools=[echo])])


async def test_agents_without_tools_still_work_with_plain_providers() -> None:
    team = Team("t", llm=PlainProvider(), agents=[Agent("a", prompt="x")])
    async with team.runtime("memory://", tenant="acme") as rt:
        assert (await rt.run({})).output == "plain"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"tools": "echo"}, "tools must be a list"),
    ({"tools": [echo, echo]}, "two tools are named 'echo'"),
    ({"tools": [echo], "tool_rules": {"lookup": "deny"}}, "tool_rules name tool(s) ['lookup']"),
    ({"tools": [echo], "tool_rules": {"echo": "sometimes"}}, "decision 'sometimes' is unknown"),
    ({"tools": [echo], "max_tool_rounds": -1}, "max_tool_rounds=-1"),
    ({"tools": [42]}, "is not a Tool or a function"),
])
def test_bad_tool_declarations_are_refused(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TeamConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        Agent("a", prompt="x", **kwargs)


async def test_a_tenant_policy_narrows_per_tenant_and_the_declaration_is_the_allow_list() -> None:
    llm = once_then([ToolCall.of("danger", {"target": "db"}), ToolCall.of("lookup", {"number": "1"})])
    team = Team("t", llm=llm, agents=[Agent("clerk", prompt="Do {q}", tools=[danger])])
    policies = {"strict": ToolPolicy({"danger": "deny"}), "*": ToolPolicy(agents={"clerk": {"lookup": "allow"}})}
    async with team.runtime("memory://", tool_policy=policies) as rt:
        strict = await rt.run({"q": "x"}, tenant="strict")
        lax = await rt.run({"q": "x"}, tenant="lax")
        denied = [r for r in await audit_records(rt, "strict") if r.event_type is AuditEventType.ACCESS_DENIED]
    assert [c.decision for c in strict.steps[0].tool_calls] == ["deny", "deny"]
    assert len(denied) == 2
    # the lax tenant's policy "allows" lookup, but the team never gave it to the agent: still refused
    assert [(c.tool, c.decision) for c in lax.steps[0].tool_calls] == [("danger", "allow"), ("lookup", "deny")]
    assert RECEIVED == [("danger", {"target": "db"})]


async def test_confirm_goes_to_the_runtime_approver() -> None:
    asked: list[ToolRequest] = []

    async def approver(request: ToolRequest) -> bool:
        asked.append(request)
        return request.arguments["target"] == "tmp"

    llm = once_then([ToolCall.of("danger", {"target": "tmp"}), ToolCall.of("danger", {"target": "prod"})])
    team = Team("t", llm=llm, agents=[Agent("ops", prompt="Clean {q}", tools=[danger],
                                            tool_rules={"danger": {"decision": "confirm", "risk": "critical"}})])
    async with team.runtime("memory://", tenant="acme", approver=approver) as rt:
        result = await rt.run({"q": "x"})
    assert [c.executed for c in result.steps[0].tool_calls] == [True, False]
    assert {r.tenant_id for r in asked} == {"acme"} and {r.risk.value for r in asked} == {"critical"}
    assert RECEIVED == [("danger", {"target": "tmp"})]


async def test_a_failing_tool_is_reported_to_the_model_unless_the_policy_ends_the_run() -> None:
    seen: list[str] = []

    def respond(messages: list[dict[str, Any]]) -> Any:
        if messages[-1]["role"] == "tool":
            seen.append(messages[-1]["content"])
            return "recovered"
        return ToolCall.of("broken")

    team = Team("t", llm=ScriptedLLM(respond=respond), agents=[Agent("a", prompt="x", tools=[broken])])
    async with team.runtime("memory://", tenant="acme") as rt:
        assert (await rt.run({})).output == "recovered"
    assert seen and "ValueError: no such table" in seen[0]
    async with team.runtime("memory://", tenant="acme", tool_policy=ToolPolicy({"broken": {"fail_run": True}})) as rt:
        with pytest.raises(ToolFailedError):
            await rt.run({})
        assert (await rt.runs())[0].status == "failed"


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
async def test_refused_and_failed_calls_are_counted_and_persisted_with_the_run(url: str, tmp_path: Any) -> None:
    calls = [ToolCall.of("lookup", {"number": "1"}), ToolCall.of("danger", {"target": "db"}),
             ToolCall.of("broken"), ToolCall.of("lookup", {"wrong": 1}), ToolCall.of("nope")]
    team = Team("t", llm=once_then(calls), agents=[Agent("clerk", prompt="Do {q}", tools=[lookup, danger, broken])])
    url = url if url == "memory://" else f"sqlite:///{tmp_path}/runs.db"
    async with team.runtime(url, tenant="acme", tool_policy=ToolPolicy({"danger": "deny"})) as rt:
        result = await rt.run({"q": "x"})
        stored = await rt.get_run(result.run_id)
        usage = await rt.usage()
    u = result.usage
    # ran: lookup and broken; refused: danger (policy) and nope (never given); failed: broken, invalid arguments
    assert (u.tool_calls, u.tool_denied, u.tool_failed) == (2, 2, 2)
    assert result.usage_by_agent["clerk"] == u
    assert stored is not None and stored.usage == u and stored.usage_by_agent == {"clerk": u}
    assert usage.total == u and usage.by_agent["clerk"].tool_denied == 2


async def test_sealed_output_of_a_secret_agent_never_reaches_another_agents_tool() -> None:
    def respond(messages: list[dict[str, Any]]) -> Any:
        if "Store" in messages[0]["content"]:
            return SECRET_TEXT
        if messages[-1]["role"] == "tool":
            return "done"
        # the model was told the secret somehow (e.g. a user pasted it) and tries to pass it on
        return [ToolCall.of("echo", {"text": f"forward {SECRET_TEXT} now"}), ToolCall.of("echo", {"text": "hi"})]

    team = Team("t", llm=ScriptedLLM(respond=respond), agents=[
        Agent("vault", prompt="Store {q}", sensitivity="secret"),
        Agent("mailer", prompt="Mail {q}", tools=[echo]),
    ])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"q": "x"})
        records = await audit_records(rt)
    assert RECEIVED == [("echo", {"text": "hi"})]
    assert [c.decision for c in result.steps[1].tool_calls] == ["deny", "allow"]
    denied = [r for r in records if r.event_type is AuditEventType.ACCESS_DENIED]
    assert len(denied) == 1 and "sealed data of agent 'vault'" in denied[0].error_message
    assert SECRET_TEXT not in json.dumps([vars(r) for r in records], default=str)


# --- property: whatever the model asks, governance holds ------------------------------------------------------

turn = st.lists(st.tuples(st.sampled_from(["echo", "lookup", "danger", "ghost"]),
                          st.sampled_from(["plain", "sealed", "embedded", "bad", "lone"])), min_size=1, max_size=3)


def _arguments(tool_name: str, kind: str) -> dict[str, Any]:
    # "lone": a UTF-16 surrogate that is no character (JSON can escape one), refused as invalid arguments
    value = {"plain": "hello", "sealed": SECRET_TEXT, "embedded": f"x{SECRET_TEXT}y", "bad": 7,
             "lone": "x\udc80y"}[kind]
    key = {"echo": "text", "lookup": "number", "danger": "target", "ghost": "anything"}[tool_name]
    return {key: value}


async def _governed_run(turns: list[list[tuple[str, str]]]) -> None:
    RECEIVED.clear()
    rounds = iter(turns)

    def respond(messages: list[dict[str, Any]]) -> Any:
        if "Store" in messages[0]["content"]:
            return SECRET_TEXT
        nxt = next(rounds, None)
        return "done" if nxt is None else [ToolCall.of(t, _arguments(t, k)) for t, k in nxt]

    team = Team("t", llm=ScriptedLLM(respond=respond), agents=[
        Agent("vault", prompt="Store {q}", sensitivity="top_secret"),
        Agent("worker", prompt="Work {q}", tools=[echo, lookup, danger], max_tool_rounds=len(turns)),
    ])
    async with team.runtime("memory://", tenant="acme", tool_policy=ToolPolicy({"danger": "deny"})) as rt:
        result = await rt.run({"q": "x"})
        records = await audit_records(rt)
    assert all(name != "danger" for name, _ in RECEIVED)
    assert all(SECRET_TEXT not in json.dumps(args) for _, args in RECEIVED)
    assert all(json.dumps(args, ensure_ascii=False).encode("utf-8") for _, args in RECEIVED)  # valid text only
    executed = [r for r in records if r.resource_type == "tool" and r.metadata.get("executed") is True]
    calls = [c for s in result.steps for c in s.tool_calls]
    assert len(executed) == len(RECEIVED) == sum(c.executed for c in calls)
    assert sorted(r.metadata["call_id"] for r in executed) == sorted(c.call_id for c in calls if c.executed)
    per_call = [r.metadata["call_id"] for r in records if r.resource_type == "tool"]
    assert len(per_call) == len(set(per_call)) == len(calls)  # exactly one decision record per requested call


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(turn, min_size=1, max_size=3))
def test_no_denied_tool_runs_no_sealed_value_leaks_and_every_call_is_audited_once(turns: Any) -> None:
    asyncio.run(_governed_run(turns))


async def test_feature_and_licence_requirements_use_the_tenant_and_the_licence() -> None:
    llm = once_then([ToolCall.of("lookup", {"number": "1"})])
    team = Team("t", llm=llm, agents=[Agent("clerk", prompt="Find {q}", tools=[lookup],
                                            tool_rules={"lookup": {"features": ["invoice_tools"]}})])
    async with team.runtime("memory://") as rt:
        await rt.ensure_tenant("small", "free")
        await rt.ensure_tenant("big", "enterprise")  # the enterprise tier grants every feature
        small = await rt.run({"q": "x"}, tenant="small")
        big = await rt.run({"q": "x"}, tenant="big")
    assert "needs the tenant feature(s) ['invoice_tools']" in str(small.steps[0].tool_calls[0].error)
    assert big.steps[0].tool_calls[0].executed
    team = Team("t", llm=once_then([ToolCall.of("lookup", {"number": "1"})]), agents=[
        Agent("clerk", prompt="Find {q}", tools=[lookup], tool_rules={"lookup": {"licence_tier": "enterprise"}})])
    async with team.runtime("memory://", tenant="acme") as rt:  # the test licence is the community tier
        refused = (await rt.run({"q": "x"})).steps[0].tool_calls[0]
        assert not refused.executed and "needs the enterprise licence tier" in str(refused.error)
