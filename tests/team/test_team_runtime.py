"""TeamRuntime end to end on memory and SQLite: results, usage, audit chain, mining log, run records, refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import LLMConnectionError, OpenAICompatible, ScriptedLLM
from llmteam.ratelimit import RateLimitExceeded, RateLimitStrategy
from llmteam.team import (
    Agent,
    PromptVariableError,
    Route,
    RunTimeoutError,
    StepLimitError,
    Team,
    TeamError,
    TenantInactiveError,
)
from llmteam.tenancy import (
    TenantConfig,
    TenantFeatureDisabledError,
    TenantLimitExceededError,
    TenantNotFoundError,
    TenantTier,
)


def support_team(**kw: Any) -> Team:
    llm = ScriptedLLM({"Classify": "billing"}, default="We fixed your invoice.")
    return Team("support", llm=llm, agents=[
        Agent("triage", prompt="Classify: {query}"),
        Agent("answer", prompt="Reply to {query} as {triage}"),
    ], **kw)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_schema_url"))  # a private schema, dropped after the test
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/team.db"


async def events_of(rt: Any, tenant: str) -> list[Any]:
    return [e async for e in rt.event_log.iterate(tenant_id=tenant)]


async def test_run_returns_output_usage_and_audit_head(url: str) -> None:
    team = support_team(prices={"scripted": (1.0, 2.0)})
    async with team.runtime(url, tenant="acme", auto_create_tenant="enterprise") as rt:
        result = await rt.run({"query": "My invoice is wrong"})
        assert result.output == "We fixed your invoice."
        assert result.outputs == {"triage": "billing", "answer": "We fixed your invoice."}
        # "Classify: My invoice is wrong" = 6 tokens -> "billing" 1; answer prompt 8 tokens -> 5 tokens
        assert result.usage_by_agent["triage"].prompt_tokens == 6
        assert result.usage_by_agent["triage"].completion_tokens == 1
        assert result.usage.requests == 2
        expected_cost = (14 * 1.0 + 6 * 2.0) / 1000
        assert result.usage.total_tokens == 20 and result.usage.cost == pytest.approx(expected_cost)
        assert [s.agent for s in result.steps] == ["triage", "answer"]
        async with rt.tenants.context("acme"):
            records = await rt.audit.query(AuditQuery(limit=100, order_by="sequence_number", order_desc=False))
            assert await rt.audit.verify_chain() == (True, [])
        types = [r.event_type for r in records]
        assert types == [AuditEventType.TENANT_CREATED, AuditEventType.PIPELINE_STARTED,
                         AuditEventType.AGENT_COMPLETED, AuditEventType.AGENT_COMPLETED,
                         AuditEventType.PIPELINE_COMPLETED]
        assert result.audit_head.sequence_number == records[-1].sequence_number
        assert result.audit_head.checksum == records[-1].checksum
        assert all(r.tenant_id == "acme" for r in records)
        assert records[2].metadata["prompt_tokens"] == 6 and records[2].agent_name == "triage"
        assert await rt.verify_audit() == (True, [])
        events = await events_of(rt, "acme")
        assert [(e.activity, e.lifecycle) for e in events] == [
            ("triage", "start"), ("triage", "complete"), ("answer", "start"), ("answer", "complete")]
        assert {e.case_id for e in events} == {result.run_id}
        stored = await rt.get_run(result.run_id)
        assert stored is not None and stored.status == "completed" and stored.output == result.output
        assert stored.usage.total_tokens == 20 and stored.usage_by_agent["answer"].completion_tokens == 5
        assert await rt.get_run(result.run_id, tenant="other") is None
        usage = await rt.usage()
        assert usage.runs == 1 and usage.total.total_tokens == 20
        assert usage.by_model["scripted"].cost == pytest.approx(expected_cost)


async def test_usage_persists_across_runtimes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/team.db"
    for _ in range(2):
        async with support_team().runtime(url, tenant="acme") as rt:
            await rt.run({"query": "invoice"})
    async with support_team().runtime(url, tenant="acme") as rt:
        usage = await rt.usage()
        assert usage.runs == 2 and usage.by_agent["triage"].requests == 2
        assert len(await rt.runs()) == 2
        assert await rt.verify_audit() == (True, [])


async def test_unknown_tenant_refused_without_auto_create(url: str) -> None:
    async with support_team().runtime(url, auto_create_tenant=None) as rt:
        with pytest.raises(TenantNotFoundError, match="llmteam tenants create ghost"):
            await rt.run({"query": "x"}, tenant="ghost")
        with pytest.raises(TeamError, match="no tenant"):
            await rt.run({"query": "x"})


async def test_auto_created_tenant_is_free_tier(url: str) -> None:
    async with support_team().runtime(url, tenant="newco") as rt:
        await rt.run({"query": "x"})
        config = await rt.tenants.get_tenant("newco")
        assert config.tier is TenantTier.FREE


async def refused_audit(rt: Any) -> list[Any]:
    records = await rt.audit.query(AuditQuery(event_types=[AuditEventType.PIPELINE_FAILED], limit=10))
    return records


async def test_runs_per_day_limit(url: str) -> None:
    async with support_team().runtime(url, tenant="t1") as rt:
        await rt.tenants.create_tenant(TenantConfig("t1", "T1", tier=TenantTier.ENTERPRISE))
        config = await rt.tenants.get_tenant("t1")
        config.tier = TenantTier.FREE  # FREE: 100 runs per day, one at a time
        config.max_requests_per_minute = 100_000  # FREE's 10 requests per minute would stop the loop first
        await rt.tenants.update_tenant(config)
        for _ in range(100):
            await rt.run({"query": "x"})
        with pytest.raises(TenantLimitExceededError) as info:
            await rt.run({"query": "x"})
        assert (info.value.limit_type, info.value.current, info.value.maximum) == ("runs_per_day", 100, 100)
        async with rt.tenants.context("t1"):
            failed = await refused_audit(rt)
        assert len(failed) == 1 and "runs_per_day" in failed[0].error_message and failed[0].action == "refuse"
        assert len(await rt.runs(limit=1000)) == 100


async def test_concurrent_pipelines_limit(url: str) -> None:
    llm = ScriptedLLM(default="ok", delay=0.2)
    team = Team("slow", llm=llm, agents=[Agent("a", prompt="do {x}")])
    async with team.runtime(url, tenant="t1") as rt:  # FREE: one pipeline at a time
        results = await asyncio.gather(*(rt.run({"x": i}) for i in range(3)), return_exceptions=True)
        ok = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, TenantLimitExceededError)]
        assert len(ok) == 1 and len(refused) == 2
        assert refused[0].limit_type == "concurrent_pipelines"
        await rt.run({"x": "after"})  # the slot is free again


async def test_agents_per_pipeline_and_features(url: str) -> None:
    llm = ScriptedLLM(default="ok")
    big = Team("big", llm=llm, agents=[Agent(f"a{i}", prompt="p") for i in range(6)])
    async with big.runtime(url, tenant="t1") as rt:
        with pytest.raises(TenantLimitExceededError) as info:
            await rt.run({})
        assert info.value.limit_type == "agents_per_pipeline" and info.value.maximum == 5
    needs = Team("needs", llm=llm, agents=[Agent("a", prompt="p")], requires=["parallel_execution"])
    async with needs.runtime(url, tenant="t1") as rt:
        with pytest.raises(TenantFeatureDisabledError) as feat:
            await rt.run({})
        assert feat.value.feature == "parallel_execution"
        async with rt.tenants.context("t1"):
            [last, *_] = await refused_audit(rt)
        assert "parallel_execution" in last.error_message and not last.success
        assert await rt.runs() == []


async def test_inactive_tenant(url: str) -> None:
    async with support_team().runtime(url, tenant="t1") as rt:
        await rt.tenants.create_tenant(TenantConfig("t1", "T1", is_active=False))
        with pytest.raises(TenantInactiveError, match="inactive"):
            await rt.run({"query": "x"})


async def test_missing_prompt_variable_refused_before_anything_runs(url: str) -> None:
    team = support_team()
    async with team.runtime(url, tenant="t1") as rt:
        with pytest.raises(PromptVariableError, match=r"\{query\}.*add 'query'"):
            await rt.run({"question": "x"})
        assert await rt.runs() == [] and team.llm.call_count == 0  # type: ignore[union-attr]
        with pytest.raises(TeamError, match="clash with agent names"):
            await rt.run({"query": "x", "triage": "y"})
        with pytest.raises(TeamError, match="not JSON"):
            await rt.run({"query": object()})


async def test_failed_step_is_audited_and_persisted(url: str) -> None:
    llm = OpenAICompatible("http://127.0.0.1:9/v1", model="m", max_retries=0, connect_timeout=1)
    team = Team("remote", agents=[Agent("a", prompt="hi {x}", llm=llm)])
    async with team.runtime(url, tenant="t1") as rt:
        with pytest.raises(LLMConnectionError, match="cannot reach"):
            await rt.run({"x": 1})
        [run] = await rt.runs()
        assert run.status == "failed" and "LLMConnectionError" in (run.error or "")
        async with rt.tenants.context("t1"):
            records = await rt.audit.query(AuditQuery(limit=20, order_by="sequence_number", order_desc=False))
            assert [r.event_type for r in records][-2:] == [AuditEventType.AGENT_FAILED,
                                                           AuditEventType.PIPELINE_FAILED]
            assert await rt.audit.verify_chain() == (True, [])
        events = await events_of(rt, "t1")
        assert [e.lifecycle for e in events] == ["start", "error"]


async def test_step_limit(url: str) -> None:
    llm = ScriptedLLM(default="again")
    team = Team("loop", llm=llm, agents=[Agent("a", prompt="p"), Agent("b", prompt="q")],
                routes=[Route("b", "a")], max_steps=7)
    async with team.runtime(url, tenant="t1") as rt:
        with pytest.raises(StepLimitError, match="max_steps=7"):
            await rt.run({})
        [run] = await rt.runs()
        assert run.status == "failed" and run.steps == 7


async def test_run_timeout(url: str) -> None:
    team = Team("slow", llm=ScriptedLLM(default="x", delay=1.0), agents=[Agent("a", prompt="p")], run_timeout=0.1)
    async with team.runtime(url, tenant="t1") as rt:
        with pytest.raises(RunTimeoutError, match="run_timeout=0.1s"):
            await rt.run({})
        [run] = await rt.runs()
        assert run.status == "failed"


async def test_a_tool_running_when_the_run_times_out_keeps_its_audit_record(url: str) -> None:
    # the attacker's move (review, 2026-11-29): a slow tool with a side effect outlives run_timeout; the run was
    # cancelled under it and the chain held no record that the tool had been called at all
    from llmteam.llm import ToolCall
    from llmteam.tools import tool

    sent: list[str] = []

    @tool
    async def send_email(to: str) -> str:
        """Send mail, then wait for a receipt that never comes."""
        sent.append(to)
        await asyncio.sleep(60)
        return "sent"

    def model(messages: list[dict[str, Any]]) -> Any:
        return "done" if messages[-1]["role"] == "tool" else ToolCall.of("send_email", {"to": "eve"})

    team = Team("mail", llm=ScriptedLLM(respond=model), run_timeout=0.5,
                agents=[Agent("clerk", prompt="{q}", tools=[send_email])])
    async with team.runtime(url, tenant="acme") as rt:
        with pytest.raises(RunTimeoutError):
            await rt.run({"q": "mail eve"})
        async with rt.tenants.context("acme"):
            recs = await rt.audit.query(AuditQuery(limit=100, resource_type="tool"))
        assert sent == ["eve"]
        assert [(r.event_type, r.resource_id, r.metadata["executed"]) for r in recs] == [
            (AuditEventType.ACTION_FAILED, "send_email", True)]
        assert "cancelled" in recs[0].error_message
        assert (await rt.verify_audit("acme"))[0]


async def test_rate_limit_per_tenant_and_provider(url: str) -> None:
    team = Team("one", llm=ScriptedLLM(default="x"), agents=[Agent("a", prompt="p")])
    async with team.runtime(url, rate_limit_strategy=RateLimitStrategy.REJECT) as rt:
        await rt.tenants.create_tenant(TenantConfig("small", "S", tier=TenantTier.ENTERPRISE,
                                                    max_requests_per_minute=3))
        for _ in range(3):
            await rt.run({}, tenant="small")
        with pytest.raises(RateLimitExceeded):
            await rt.run({}, tenant="small")
        await rt.run({}, tenant="other")  # another tenant has its own budget


async def test_runtime_must_be_open() -> None:
    rt = support_team().runtime("memory://", tenant="t")
    with pytest.raises(TeamError, match="not open"):
        await rt.run({"query": "x"})
    await rt.open()
    await rt.close()
    with pytest.raises(TeamError, match="not open"):
        await rt.run({"query": "x"})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"auto_create_tenant": "gold"}, "'gold' is not a valid TenantTier"),
        ({"rate_limit_strategy": "hope"}, "'hope' is not a valid RateLimitStrategy"),
        ({"max_rate_wait": -1}, "max_rate_wait=-1"),
        ({"max_limiters": 0}, "max_limiters=0"),
        ({"redis_url": "http://x"}, "scheme 'http'"),
    ],
)
def test_bad_runtime_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        support_team().runtime("memory://", **kwargs)
    with pytest.raises(ValueError, match="ftp"):
        support_team().runtime("ftp://x")


async def test_a_run_that_fails_while_it_is_set_up_is_finished_and_frees_its_slot(url: str) -> None:
    """An error building the run's state (``max_steps: 10**21`` raised OverflowError there) escaped before the
    try/finally that finishes the run record: the record stayed ``running`` and held the tenant's only slot."""
    team = support_team()
    team.max_steps = 10**21  # past Team's own check, to fail where the run is set up
    async with team.runtime(url, tenant="acme") as rt:  # FREE tier: one run at a time
        for run_id in ("r1", "r2"):
            with pytest.raises(OverflowError):
                await rt.run({"query": "q"}, run_id=run_id)
        records = await rt.runs()
        async with rt.tenants.context("acme"):
            failed = await rt.audit.query(AuditQuery(event_types=[AuditEventType.PIPELINE_FAILED]))
    assert sorted((r.run_id, r.status) for r in records) == [("r1", "failed"), ("r2", "failed")]
    assert all(r.error and r.error.startswith("OverflowError") for r in records)
    assert sorted(r.run_id for r in failed) == ["r1", "r2"]


@pytest.mark.parametrize("run_id", ["r" * 129, "a\nb\x00c", 123, "", "../x", "-x", "x y"])
async def test_a_run_id_that_no_store_or_trace_should_hold_is_refused_before_the_model_is_called(
        run_id: Any) -> None:
    """A run id of 1 MB was accepted (on every span and record), a NUL one failed at the event log after the model
    was billed, an int failed in the audit write, and an empty one silently became a generated id."""
    llm = ScriptedLLM(default="ok")
    team = Team("t", llm=llm, agents=[Agent("a", prompt="p {q}")])
    async with team.runtime("memory://", tenant="acme") as rt:
        with pytest.raises(TeamError, match="run id .* must be 1-128 letters, digits"):
            await rt.run({"q": "x"}, run_id=run_id)
        assert await rt.runs() == []
        assert (await rt.run({"q": "x"}, run_id="a" * 128)).run_id == "a" * 128
    assert llm.call_count == 1
