"""Durable approvals and retries: a paused run holds no worker and no tenant slot, survives every worker's
restart, continues after a decision from another process (once), denials reach the model or fail the run, the
deadline denies; ``retry(from_step=N)`` repeats no model call before step N."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.durable import DurableError, DurableRuntime, RunFailedError
from llmteam.llm import ScriptedLLM, ToolCall
from llmteam.team import Agent, Team, load_team
from llmteam.tenancy import TenantConfig, TenantTier
from llmteam.tools import tool

from .._support.chat_server import ChatServer
from .conftest import Worker

APPROVAL_YAML = """team: durable_gate
llm: {{provider: openai, base_url: "{base_url}", model: counting, max_retries: 0, timeout: 30}}
agents:
  - {{name: first, prompt: "First: {{query}}"}}
  - {{name: second, prompt: "Second: {{first}}", approval: true}}
"""
REFUNDS: list[int] = []


@tool
async def refund(amount: int) -> str:
    """Refund the customer."""
    REFUNDS.append(amount)
    return f"refunded {amount}"


async def wait_for(rt: Any, run_id: str, status: str, timeout: float = 60.0) -> None:
    """Poll until the run shows ``status`` (hang guard only; the tests assert states, never time)."""
    for _ in range(int(timeout / 0.05)):
        if (await rt.status(run_id)).status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {status}: {await rt.status(run_id)}")


async def records(rt: DurableRuntime, tenant: str, run_id: str) -> list[Any]:
    async with rt.runtime.tenants.context(tenant):
        return await rt.runtime.audit.query(AuditQuery(run_id=run_id, limit=1000))


def cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``llmteam ARGS --db DB`` in another process."""
    return subprocess.run([sys.executable, "-c", "from llmteam.cli import main; main()", *args, "--db", db],
                          capture_output=True, text=True, timeout=120, env={**os.environ})


def refund_team(*, timeout: float | None = None, delay: float = 0.0) -> Team:
    llm = ScriptedLLM({"Refund": ToolCall.of("refund", {"amount": 5}, id="c1")}, default="nothing to do",
                      delay=delay)
    return Team("refunds", llm=llm, agents=[Agent("clerk", prompt="{query}", tools=[refund],
                                                  tool_rules={"refund": "confirm"}, approval_timeout=timeout)])


@pytest.mark.timeout(300)
async def test_a_paused_run_survives_every_worker_restart_and_completes_after_approval_elsewhere(
        chat: ChatServer, tmp_path: Path, db: str) -> None:
    team_file = tmp_path / "gate.yaml"
    team_file.write_text(APPROVAL_YAML.format(base_url=chat.base_url), encoding="utf-8")
    worker = Worker(team_file, db, executor_id="w1")
    async with DurableRuntime(load_team(team_file), db, serve=False) as rt:
        run_id = await rt.submit({"query": "case"}, tenant="acme", run_id="gated-1")
        worker.start()
        try:
            await wait_for(rt, run_id, "AWAITING_APPROVAL")
            [pending] = await rt.pending(tenant="acme")
            assert (pending.run_id, pending.step, pending.agent, pending.tool) == (run_id, 2, "second", None)
            assert pending.requested_at.tzinfo is not None and pending.deadline is None
            worker.kill()  # every worker gone while it waits; a new one (another id) takes over
            worker = Worker(team_file, db, executor_id="w2")
            worker.start()
            assert (await rt.status(run_id)).status == "AWAITING_APPROVAL"
            done = cli(db, "runs", "approve", run_id, "--step", "2", "--reason", "looks fine", "--as", "alice")
            assert done.returncode == 0, done.stderr
            result = await rt.result(run_id, timeout=120)
        finally:
            worker.stop()
        assert result.output == "re: Second: re: First: case"
        assert chat.calls == Counter({"First: case": 1, "Second: re: First: case": 1})  # nothing asked twice
        assert await rt.runtime.verify_audit("acme") == (True, [])
        found = await records(rt, "acme", run_id)
        kinds = Counter((r.event_type, r.step_name or None) for r in found)
        assert kinds == Counter({
            (AuditEventType.PIPELINE_STARTED, None): 1, (AuditEventType.AGENT_COMPLETED, "1"): 1,
            (AuditEventType.APPROVAL_REQUESTED, "agent:2"): 1, (AuditEventType.APPROVAL_GRANTED, "agent:2"): 1,
            (AuditEventType.AGENT_COMPLETED, "2"): 1, (AuditEventType.PIPELINE_COMPLETED, None): 1,
        })
        granted = next(r for r in found if r.event_type is AuditEventType.APPROVAL_GRANTED)
        assert (granted.actor_id, granted.metadata["reason"]) == ("alice", "looks fine")
        events = [e async for e in rt.runtime.event_log.iterate(tenant_id="acme", case_id=run_id)]
        waits = [e for e in events if e.activity == "wait:approval"]
        assert len(waits) == 1 and waits[0].lifecycle == "wait" and waits[0].resource == "alice"
        assert waits[0].attributes["decision"] == "approved" and waits[0].duration_ms >= 0
        record = await rt.runtime.get_run(run_id, "acme")
        assert record is not None and record.status == "completed" and record.usage.requests == 2


async def test_a_paused_run_holds_no_tenant_slot(tmp_path: Path) -> None:
    async with DurableRuntime(refund_team(), f"sqlite:///{tmp_path}/s.db") as rt:
        await rt.runtime.tenants.create_tenant(TenantConfig("solo", "solo", tier=TenantTier.PROFESSIONAL,
                                                            max_concurrent_pipelines=1))
        waiting = await rt.submit({"query": "Refund my order"}, tenant="solo")
        await wait_for(rt, waiting, "AWAITING_APPROVAL")
        record = await rt.runtime.get_run(waiting, "solo")
        assert record is not None and record.status == "paused"
        other = await rt.run({"query": "Hello"}, tenant="solo", timeout=60)  # the same tenant's next run goes on
        assert other.output == "nothing to do"
        assert (await rt.status(waiting)).status == "AWAITING_APPROVAL"
        await rt.approve(waiting, approver="alice")
        assert (await rt.result(waiting, timeout=60)).output == "refunded 5"
        assert await rt.runtime.verify_audit("solo") == (True, [])


async def test_a_denied_tool_call_returns_the_reason_to_the_model(tmp_path: Path) -> None:
    REFUNDS.clear()
    async with DurableRuntime(refund_team(), f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "Refund my order"})
        await wait_for(rt, run_id, "AWAITING_APPROVAL")
        [pending] = await rt.pending(run_id)
        assert (pending.tool, pending.arguments, pending.step) == ("refund", {"amount": 5}, 1)
        await rt.deny(run_id, approver="bob", reason="amount not verified")
        result = await rt.result(run_id, timeout=60)
        assert "refused: denied by 'bob': amount not verified" in result.output
        assert REFUNDS == [] and result.steps[0].tool_calls[0].decision == "deny"
        found = await records(rt, "acme", run_id)
        [rejected] = [r for r in found if r.event_type is AuditEventType.APPROVAL_REJECTED]
        assert (rejected.actor_id, rejected.error_message) == ("bob", "amount not verified")
        assert await rt.runtime.verify_audit() == (True, [])


async def test_an_approved_tool_call_runs_once_after_the_pause(tmp_path: Path) -> None:
    REFUNDS.clear()
    async with DurableRuntime(refund_team(), f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "Refund my order"})
        await wait_for(rt, run_id, "AWAITING_APPROVAL")
        assert REFUNDS == []
        await rt.approve(run_id, approver="alice", step=1)
        result = await rt.result(run_id, timeout=60)
        assert result.output == "refunded 5" and REFUNDS == [5]
        assert result.usage.tool_calls == 1 and result.usage.requests == 2


async def test_a_denied_agent_fails_the_run_naming_approver_and_reason(tmp_path: Path) -> None:
    team = Team("gate", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="Do {query}", approval=True)])
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "x"})
        await wait_for(rt, run_id, "AWAITING_APPROVAL")
        await rt.deny(run_id, approver="carol", reason="not today")
        with pytest.raises(RunFailedError, match="ApprovalDeniedError.*denied by 'carol': not today"):
            await rt.result(run_id, timeout=60)
        record = await rt.runtime.get_run(run_id)
        assert record is not None and record.status == "failed" and record.usage.requests == 0
        assert await rt.runtime.verify_audit() == (True, [])


async def test_the_deadline_denies_and_is_audited_as_a_timeout(tmp_path: Path) -> None:
    team = Team("gate", llm=ScriptedLLM(default="ok"), agents=[
        Agent("a", prompt="Do {query}", approval=True, approval_timeout=0.5)])
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "x"})
        with pytest.raises(RunFailedError, match="denied by 'deadline': no decision before the deadline"):
            await rt.result(run_id, timeout=60)
        kinds = Counter(r.event_type for r in await records(rt, "acme", run_id))
        assert kinds[AuditEventType.APPROVAL_TIMEOUT] == 1 and kinds[AuditEventType.APPROVAL_REQUESTED] == 1
        with pytest.raises(DurableError, match="not waiting for an approval.*timeout by 'deadline'"):
            await rt.approve(run_id, approver="late")


async def test_deciding_a_run_that_does_not_wait_is_a_clear_error(tmp_path: Path) -> None:
    team = Team("gate", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="Do {query}", approval=True)])
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        with pytest.raises(DurableError, match="no durable run 'nope'"):
            await rt.approve("nope", approver="alice")
        run_id = await rt.submit({"query": "x"})
        await wait_for(rt, run_id, "AWAITING_APPROVAL")
        with pytest.raises(DurableError, match=f"run '{run_id}' waits for the approval of step 1, not step 2"):
            await rt.approve(run_id, approver="alice", step=2)
        with pytest.raises(DurableError, match="non-blank reason"):
            await rt.deny(run_id, approver="alice", reason="  ")
        with pytest.raises(DurableError, match="approver .* must be 1-200 printable"):
            await rt.approve(run_id, approver="bad\nname")
        with pytest.raises(DurableError, match="waiting for an approval; approve or deny it"):
            await rt.cancel(run_id)
        await rt.approve(run_id, approver="alice")
        with pytest.raises(DurableError, match=f"run '{run_id}' is not waiting .* approved by 'alice'"):
            await rt.approve(run_id, approver="alice")
        assert (await rt.result(run_id, timeout=60)).output == "ok"


async def test_concurrent_decisions_make_one_audit_record(tmp_path: Path) -> None:
    team = Team("gate", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="Do {query}", approval=True)])
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "x"})
        await wait_for(rt, run_id, "AWAITING_APPROVAL")
        outcomes = await asyncio.gather(
            *[rt.approve(run_id, approver=f"p{i}") for i in range(3)],
            *[rt.deny(run_id, approver=f"q{i}", reason="no") for i in range(3)], return_exceptions=True)
        assert sum(o is None for o in outcomes) == 1
        assert all(isinstance(o, DurableError) for o in outcomes if o is not None)
        try:
            await rt.result(run_id, timeout=60)
        except RunFailedError:
            pass  # a denial won
        decided = [r for r in await records(rt, "acme", run_id) if r.event_type in (
            AuditEventType.APPROVAL_GRANTED, AuditEventType.APPROVAL_REJECTED)]
        assert len(decided) == 1
        assert await rt.runtime.verify_audit() == (True, [])


@pytest.mark.timeout(300)
async def test_retry_from_a_step_repeats_no_model_call_before_it(chat: ChatServer, team_file: Path,
                                                                 db: str) -> None:
    async with DurableRuntime(load_team(team_file), db, tenant="acme") as rt:
        first = await rt.run({"query": "case"}, timeout=60)
        assert chat.calls == Counter({"First: case": 1, "Second: re: First: case": 1})
        with pytest.raises(DurableError, match="has no step 3 to retry from \\(its steps: 1, 2\\)"):
            await rt.retry(first.run_id, from_step=3)
        again = await rt.retry(first.run_id, from_step=2)
        result = await rt.result(again, timeout=60)
        assert again != first.run_id and result.run_id == again and result.output == first.output
        assert chat.calls == Counter({"First: case": 1, "Second: re: First: case": 2})  # step 1 replayed
        assert result.usage.requests == 1  # the new run counts the step it executed
        record = await rt.runtime.get_run(again)
        assert record is not None and record.status == "completed" and record.usage.requests == 1
        kinds = Counter((r.event_type, r.step_name or None) for r in await records(rt, "acme", again))
        assert kinds == Counter({(AuditEventType.PIPELINE_STARTED, None): 1, (AuditEventType.AGENT_COMPLETED, "2"): 1,
                                 (AuditEventType.PIPELINE_COMPLETED, None): 1})
        started = next(r for r in await records(rt, "acme", again)
                       if r.event_type is AuditEventType.PIPELINE_STARTED)
        assert started.new_value["input_summary"]["retry_of"] == first.run_id
        assert started.new_value["input_summary"]["from_step"] == 2
        assert (await rt.runtime.usage("acme")).total.requests == 3
        assert await rt.runtime.verify_audit() == (True, [])
        assert {s.run_id for s in await rt.list(tenant="acme")} == {first.run_id, again}  # the retry: its tenant's
        assert await rt.list(tenant="globex") == []


async def test_approvals_on_postgresql(pg_schema_url: str, postgres_url: str, unique_name: str) -> None:
    import asyncpg

    schema = f"{unique_name}_dbos"
    try:
        async with DurableRuntime(refund_team(), pg_schema_url, tenant="acme", system_schema=schema) as rt:
            run_id = await rt.submit({"query": "Refund my order"})
            await wait_for(rt, run_id, "AWAITING_APPROVAL")
            status = await rt.status(run_id)
            assert status.tenant == "acme" and str(status.queue).startswith("llmteam_runs_c1_r")  # where it continues
            [pending] = await rt.pending(tenant="acme")
            assert (pending.run_id, pending.tool) == (run_id, "refund")
            await rt.deny(run_id, approver="dana", reason="duplicate claim")
            assert "denied by 'dana': duplicate claim" in (await rt.result(run_id, timeout=60)).output
            assert await rt.runtime.verify_audit() == (True, [])
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            tables = await admin.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                                       schema)
            assert {"llmteam_approvals", "llmteam_retries"} <= {t["table_name"] for t in tables}
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await admin.close()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(st.sampled_from(["approve", "deny"]), st.sampled_from([None, 1, 2])),
                      min_size=1, max_size=5))
def test_any_sequence_of_decisions_makes_exactly_one_decision_record(
        tmp_path_factory: pytest.TempPathFactory, calls: list[tuple[str, int | None]]) -> None:
    team = Team("gate", llm=ScriptedLLM(default="ok"), agents=[Agent("a", prompt="Do {query}", approval=True)])
    url = f"sqlite:///{tmp_path_factory.mktemp('seq')}/s.db"

    async def scenario() -> None:
        async with DurableRuntime(team, url, tenant="acme") as rt:
            run_id = await rt.submit({"query": "x"})
            await wait_for(rt, run_id, "AWAITING_APPROVAL")
            accepted = []
            for verb, step in calls:
                try:
                    if verb == "approve":
                        await rt.approve(run_id, approver="ann", step=step)
                    else:
                        await rt.deny(run_id, approver="ben", reason="no", step=step)
                    accepted.append(verb)
                except DurableError:
                    pass
            valid = [verb for verb, step in calls if step in (None, 1)]
            assert accepted == valid[:1]  # the first valid call decides; every other one is refused
            if not accepted:
                await rt.approve(run_id, approver="ann")
            try:
                await rt.result(run_id, timeout=60)
            except RunFailedError:
                assert accepted == ["deny"]
            decided = [r for r in await records(rt, "acme", run_id) if r.event_type in (
                AuditEventType.APPROVAL_GRANTED, AuditEventType.APPROVAL_REJECTED)]
            assert len(decided) == 1
            assert await rt.runtime.verify_audit() == (True, [])

    asyncio.run(scenario())


def test_an_approver_never_sees_sealed_values_and_sees_bounded_arguments() -> None:
    from llmteam.durable._approval import MAX_ARGUMENTS, shown_arguments

    shown = shown_arguments({"to": "bob", "body": "pin is 4417-secret", "items": ["ok", {"n": "4417-secret"}]},
                            ["4417-secret"])
    assert shown == {"to": "bob", "body": "[SEALED]", "items": ["ok", {"n": "[SEALED]"}]}
    big = shown_arguments({"blob": "x" * (2 * MAX_ARGUMENTS)}, [])
    assert list(big) == ["truncated_json"] and len(big["truncated_json"]) == MAX_ARGUMENTS
