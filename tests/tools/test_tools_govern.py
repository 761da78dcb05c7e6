"""govern(): every requested call passes policy, sealed-data screening, approval, rate limit and timeout, and is
audited once with digests (never raw values); failures become bounded tool-error messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditQuery, AuditTrail
from llmteam.audit.stores import MemoryAuditStore
from llmteam.context import SensitivityLevel
from llmteam.licensing import LicenseTier
from llmteam.llm import ToolCall
from llmteam.observability import NO_TELEMETRY, NoTelemetry
from llmteam.ratelimit import RateLimitConfig, RateLimiter, RateLimitStrategy
from llmteam.tools import (
    AgentTools,
    ApprovalDecision,
    SealedValue,
    ToolFailedError,
    ToolPolicy,
    ToolRequest,
    ToolRule,
    ToolScope,
    digest,
    govern,
    govern_all,
    tool,
)

RAN: list[tuple[str, dict[str, Any]]] = []


@tool
async def lookup(number: str) -> dict:
    """Look up an invoice."""
    RAN.append(("lookup", {"number": number}))
    return {"number": number, "amount": 120.5}


@tool
async def refund(number: str, amount: float) -> str:
    """Refund an invoice."""
    RAN.append(("refund", {"number": number, "amount": amount}))
    return "refunded"


@tool
async def explode() -> str:
    """Always fails."""
    raise RuntimeError("disk on fire " + "x" * 5000)


@tool
async def slow() -> str:
    """Never finishes in time."""
    await asyncio.sleep(30)
    return "late"


@tool
async def weird() -> object:
    """Returns something that is not JSON."""
    return object()


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


def make_scope(**kw: Any) -> ToolScope:
    trail = AuditTrail(MemoryAuditStore(), tenant_id="acme", use_context_tenant=False)
    return ToolScope("acme", "run-1", "team", trail, **kw)


def agent(*tools: Any, rules: dict[str, ToolRule] | None = None,
          level: SensitivityLevel = SensitivityLevel.INTERNAL) -> AgentTools:
    return AgentTools("billing", level, {t.name: t for t in tools}, rules or {})


async def records(scope: ToolScope) -> list[Any]:
    return await scope.trail.query(AuditQuery(limit=1000, order_by="sequence_number", order_desc=False))


async def test_allowed_call_runs_and_is_audited_once_with_digests_only() -> None:
    scope = make_scope(digest_key=b"tenant-key")
    call = ToolCall.of("lookup", {"number": "INV-77"})
    outcome = await govern(scope, agent(lookup), call)
    assert outcome.executed and outcome.ok and outcome.decision == "allow"
    assert json.loads(outcome.content) == {"number": "INV-77", "amount": 120.5}
    assert outcome.to_message() == {"role": "tool", "tool_call_id": call.id, "content": outcome.content}
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACTION_COMPLETED and rec.resource_id == "lookup"
    assert rec.agent_name == "billing" and rec.run_id == "run-1" and rec.success
    meta = rec.metadata
    assert meta["arguments_digest"] == digest(b"tenant-key", '{"number":"INV-77"}')
    assert meta["result_digest"] == digest(b"tenant-key", outcome.content)
    assert meta["decision"] == "allow" and meta["executed"] is True and meta["call_id"] == call.id
    assert "INV-77" not in json.dumps(rec.to_dict() if hasattr(rec, "to_dict") else vars(rec), default=str)
    assert (scope.usage.calls, scope.usage_by_agent["billing"].calls) == (1, 1)
    assert await scope.trail.verify_chain() == (True, [])


async def test_the_digests_follow_the_scopes_key_when_it_is_replaced() -> None:
    scope = make_scope(digest_key=b"old-key")
    call = ToolCall.of("lookup", {"number": "INV-1"})
    await govern(scope, agent(lookup), call)
    scope.digest_key = b"new-key"  # the key's prepared HMAC state must not outlive the key
    await govern(scope, agent(lookup), call)
    scope.digest_key = None
    await govern(scope, agent(lookup), call)
    assert [r.metadata["arguments_digest"] for r in await records(scope)] == [
        digest(key, '{"number":"INV-1"}') for key in (b"old-key", b"new-key", None)]


async def test_undeclared_tool_is_refused_and_audited_as_access_denied() -> None:
    scope = make_scope()
    outcome = await govern(scope, agent(lookup), ToolCall.of("refund", {"number": "1", "amount": 5}))
    assert not outcome.executed and outcome.decision == "deny"
    assert "was not given a tool named 'refund'" in outcome.content
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACCESS_DENIED and not rec.success
    assert RAN == []


@pytest.mark.parametrize("rule, tenant, fragment", [
    (ToolRule(), ToolPolicy({"lookup": "deny"}), "denies 'lookup'"),
    (ToolRule(decision="deny"), ToolPolicy({"lookup": "allow"}), "denies 'lookup'"),
    (ToolRule(features={"tools_pro"}), ToolPolicy(), "needs the tenant feature(s) ['tools_pro']"),
    (ToolRule(), ToolPolicy({"lookup": {"licence_tier": "enterprise"}}), "needs the enterprise licence tier"),
    (ToolRule(), ToolPolicy({"lookup": {"constraints": {"number": {"INV-1"}}}}), "argument 'number'='INV-9'"),
])
async def test_policy_refusals(rule: ToolRule, tenant: ToolPolicy, fragment: str) -> None:
    scope = make_scope(policy=tenant)
    outcome = await govern(scope, agent(lookup, rules={"lookup": rule}), ToolCall.of("lookup", {"number": "INV-9"}))
    assert not outcome.executed and fragment in outcome.content
    assert RAN == []
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACCESS_DENIED


async def test_features_and_licence_tier_allow_when_present() -> None:
    scope = make_scope(has_feature=lambda f: f == "tools_pro", has_tier=lambda t: t is LicenseTier.PROFESSIONAL)
    rules = {"lookup": ToolRule(features={"tools_pro"}, licence_tier="professional")}
    assert (await govern(scope, agent(lookup, rules=rules), ToolCall.of("lookup", {"number": "1"}))).executed


async def test_per_run_cap_holds_for_parallel_calls() -> None:
    scope = make_scope(policy=ToolPolicy({"lookup": {"max_calls_per_run": 2}}))
    calls = [ToolCall.of("lookup", {"number": str(i)}) for i in range(5)]
    outcomes = await govern_all(scope, agent(lookup), calls)
    assert [o.call.id for o in outcomes] == [c.id for c in calls]
    assert sum(o.executed for o in outcomes) == 2 and len(RAN) == 2
    assert all("cap of 2" in o.content for o in outcomes if not o.executed)


async def test_sealed_value_never_reaches_a_tool_without_clearance() -> None:
    sealed = [SealedValue("vault", SensitivityLevel.SECRET, "acct-4417-secret")]
    scope = make_scope(sealed=lambda: sealed)
    call = ToolCall.of("lookup", {"number": "send acct-4417-secret please"})
    outcome = await govern(scope, agent(lookup), call)
    assert not outcome.executed and "sealed data of agent 'vault'" in outcome.content
    assert "acct-4417-secret" not in outcome.content
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACCESS_DENIED and "acct-4417-secret" not in rec.error_message
    assert RAN == []
    cleared = await govern(make_scope(sealed=lambda: sealed), agent(lookup, level=SensitivityLevel.SECRET), call)
    assert cleared.executed


async def test_confirm_fails_closed_without_an_approver() -> None:
    scope = make_scope(policy=ToolPolicy({"refund": "confirm"}))
    outcome = await govern(scope, agent(refund), ToolCall.of("refund", {"number": "1", "amount": 5}))
    assert not outcome.executed and "no approver is configured" in outcome.content
    assert RAN == []


@pytest.mark.parametrize("answer, executed", [(True, True), (False, False), ("yes", False), (RuntimeError, False)])
async def test_confirm_asks_the_approver(answer: Any, executed: bool) -> None:
    asked: list[ToolRequest] = []

    async def approver(request: ToolRequest) -> Any:
        asked.append(request)
        if answer is RuntimeError:
            raise RuntimeError("approver down")
        return answer

    scope = make_scope(policy=ToolPolicy({"refund": {"decision": "confirm", "risk": "high"}}), approver=approver)
    outcome = await govern(scope, agent(refund), ToolCall.of("refund", {"number": "1", "amount": "5"}))
    assert outcome.executed is executed
    (request,) = asked
    assert (request.tool, request.agent, request.risk.value, dict(request.arguments)) == \
        ("refund", "billing", "high", {"number": "1", "amount": 5.0})
    types = [r.event_type for r in await records(scope)]
    if executed:
        assert types == [AuditEventType.APPROVAL_GRANTED, AuditEventType.ACTION_COMPLETED]
    else:
        assert types == [AuditEventType.APPROVAL_REJECTED, AuditEventType.ACCESS_DENIED]


@pytest.mark.parametrize("target, rule, fragment", [
    (explode, ToolRule(), "RuntimeError: disk on fire"),
    (slow, ToolRule(timeout=0.05), "did not finish within 0.05s"),
    (weird, ToolRule(), "cannot be sent to the model as JSON"),
])
async def test_failures_become_bounded_error_messages_and_failed_records(target: Any, rule: ToolRule,
                                                                         fragment: str) -> None:
    scope = make_scope()
    outcome = await govern(scope, agent(target, rules={target.name: rule}), ToolCall.of(target.name))
    assert outcome.executed and not outcome.ok and fragment in outcome.content
    assert outcome.content.startswith("error: ") and len(outcome.content) <= 2_100
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACTION_FAILED and fragment in rec.error_message


@tool
async def echo_text(text: str) -> str:
    """Echo the text."""
    RAN.append(("echo_text", {"text": text}))
    return text


@pytest.mark.parametrize("arguments", ['{"text": "a\\ud800b"}', '{"text": "a\ud800b"}'],
                         ids=["escaped-in-the-json", "in-the-text-itself"])
async def test_arguments_holding_a_lone_surrogate_are_refused_and_audited(arguments: str) -> None:
    """A model's arguments with a UTF-16 surrogate that is no character never reach the tool, and the call is
    still audited (it used to crash govern() with a UnicodeEncodeError and leave the call unaudited)."""
    scope = make_scope(digest_key=b"tenant-key")
    outcome = await govern(scope, agent(echo_text), ToolCall("c1", "echo_text", arguments))
    assert outcome.decision == "invalid_arguments" and not outcome.executed and RAN == []
    assert "surrogate" in outcome.content and "fix the arguments" in outcome.content
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACTION_FAILED and "surrogate" in rec.error_message
    assert rec.metadata["arguments_digest"].startswith("hmac-sha256:")
    assert await scope.trail.verify_chain() == (True, [])


@pytest.mark.parametrize("fail", [False, True], ids=["returned", "raised"])
async def test_tool_text_that_is_not_unicode_reaches_the_model_and_the_audit_as_valid_text(fail: bool) -> None:
    @tool
    async def undecoded() -> str:
        """Text decoded with surrogateescape, as os.fsdecode() gives for a file name that is not UTF-8."""
        name = b"report-\xff.txt".decode("utf-8", "surrogateescape")
        if fail:
            raise RuntimeError(f"cannot open {name}")
        return f"read {name}"

    scope = make_scope()
    outcome = await govern(scope, agent(undecoded), ToolCall.of("undecoded"))
    assert outcome.executed and outcome.ok is not fail
    assert "report-\ufffd.txt" in outcome.content
    outcome.content.encode("utf-8")
    (rec,) = await records(scope)
    assert rec.success is not fail and ("report-\ufffd.txt" in rec.error_message) is fail
    assert await scope.trail.verify_chain() == (True, [])


async def test_a_timed_out_tool_is_cancelled_and_the_calling_task_is_not() -> None:
    # the timeout cancels the tool's coroutine (its finally runs) and leaves no pending cancellation on the caller
    cleaned: list[str] = []

    @tool
    async def stuck() -> str:
        """Waits forever."""
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("stuck")
        return "late"

    scope = make_scope()
    outcome = await govern(scope, agent(stuck, rules={"stuck": ToolRule(timeout=0.05)}), ToolCall.of("stuck"))
    assert "did not finish within 0.05s" in outcome.content and cleaned == ["stuck"]
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # the caller keeps running: nothing left to cancel it


async def test_cancelling_the_caller_is_not_reported_as_a_tool_timeout() -> None:
    scope = make_scope()
    running = asyncio.Event()

    @tool
    async def waits() -> str:
        """Waits until cancelled."""
        running.set()
        await asyncio.sleep(30)
        return "late"

    call = asyncio.ensure_future(govern(scope, agent(waits, rules={"waits": ToolRule(timeout=20)}),
                                        ToolCall.of("waits")))
    await asyncio.wait_for(running.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    (rec,) = await records(scope)  # its one record says it was cancelled, not that the tool timed out
    assert "cancelled" in rec.error_message and "did not finish within" not in rec.error_message


async def test_fail_run_raises_after_auditing() -> None:
    scope = make_scope(policy=ToolPolicy({"explode": {"fail_run": True}}))
    with pytest.raises(ToolFailedError, match="its policy ends the run"):
        await govern(scope, agent(explode), ToolCall.of("explode"))
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACTION_FAILED


async def test_invalid_arguments_are_reported_to_the_model() -> None:
    scope = make_scope()
    outcome = await govern(scope, agent(refund), ToolCall("c1", "refund", '{"number": 1, "amount": "lots"'))
    assert not outcome.executed and "not valid JSON" in outcome.content
    outcome = await govern(scope, agent(refund), ToolCall.of("refund", {"number": "1", "amount": "lots"}))
    assert "amount: Input should be a valid number" in outcome.content
    assert [r.metadata["decision"] for r in await records(scope)] == ["invalid_arguments"] * 2


async def test_rate_limit_refuses_beyond_the_tenants_rate() -> None:
    limiters: dict[str, RateLimiter] = {}

    async def limiter_for(name: str, per_minute: float) -> RateLimiter:
        if name not in limiters:
            config = RateLimitConfig(requests_per_second=per_minute / 60, requests_per_minute=per_minute,
                                     requests_per_hour=per_minute * 60, burst_size=int(per_minute),
                                     strategy=RateLimitStrategy.REJECT)
            limiters[name] = RateLimiter(f"tool:{name}", config)
        return limiters[name]

    scope = make_scope(policy=ToolPolicy({"lookup": {"calls_per_minute": 2}}), limiter_for=limiter_for)
    outcomes = [await govern(scope, agent(lookup), ToolCall.of("lookup", {"number": str(i)})) for i in range(3)]
    assert [o.executed for o in outcomes] == [True, True, False]
    assert "rate-limited" in outcomes[2].content
    assert limiters["lookup"].held_permits == 0


async def test_events_and_mining_are_reported() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    mined: list[tuple[str, str]] = []

    async def on_event(kind: str, data: dict[str, Any]) -> None:
        events.append((kind, data))

    scope = make_scope(on_event=on_event, mining=lambda act, life, ms, cost, attrs: mined.append((act, life)))
    await govern(scope, agent(lookup), ToolCall.of("lookup", {"number": "1"}))
    assert [k for k, _ in events] == ["tool_requested", "tool_decided", "tool_finished"]
    assert mined == [("tool:lookup", "start"), ("tool:lookup", "complete")]


async def test_a_flood_of_calls_in_one_answer_is_bounded_and_every_call_audited() -> None:
    scope = make_scope()
    calls = [ToolCall.of("lookup", {"number": str(i)}) for i in range(70)]
    calls.append(ToolCall("x" * 10_000, "y" * 10_000, "{}"))
    outcomes = await govern_all(scope, agent(lookup), calls)
    assert sum(o.executed for o in outcomes) == 64 and len(RAN) == 64
    assert all("more than 64 tool calls" in o.content for o in outcomes[64:])
    recs = await records(scope)
    assert len(recs) == 71 and max(len(r.resource_id) for r in recs) <= 200
    assert max(len(r.metadata["call_id"]) for r in recs) <= 200


@pytest.mark.parametrize("audited", [True, False])
async def test_a_named_decision_gives_the_model_who_denied_and_why(audited: bool) -> None:
    async def approver(request: ToolRequest) -> ApprovalDecision:
        return ApprovalDecision(False, "bob", "amount not verified", audited=audited)

    scope = make_scope(policy=ToolPolicy({"refund": "confirm"}), approver=approver)
    outcome = await govern(scope, agent(refund), ToolCall.of("refund", {"number": "1", "amount": 5}))
    assert not outcome.executed and RAN == []
    assert outcome.content.endswith("refused: denied by 'bob': amount not verified")
    types = [r.event_type for r in await records(scope)]
    # an audited decision (a durable approval, recorded once by whoever decided) is not recorded again
    assert types == ([] if audited else [AuditEventType.APPROVAL_REJECTED]) + [AuditEventType.ACCESS_DENIED]


@pytest.mark.parametrize("fields, match", [
    (("false", "alice"), "granted='false' must be True or False, not str"),
    ((0, "alice"), "granted=0 must be True or False, not int"),
    ((None, "alice"), "granted=None must be True or False, not NoneType"),
    ((True, "alice", "", "no"), "audited='no' must be True or False"),
    ((True, None), "approver=None must be text"),
    ((False, "alice", 3), "reason=3 must be text"),
])
def test_a_decision_refuses_anything_but_a_bool_and_text(fields: tuple[Any, ...], match: str) -> None:
    """``ApprovalDecision("false", ...)`` was truthy: a denial typed as text granted the call."""
    with pytest.raises(TypeError, match=match):
        ApprovalDecision(*fields)


async def test_a_denial_typed_as_text_does_not_run_the_call() -> None:
    async def approver(request: ToolRequest) -> ApprovalDecision:
        return ApprovalDecision("false", "alice", "looks like fraud")  # type: ignore[arg-type]

    scope = make_scope(policy=ToolPolicy({"refund": "confirm"}), approver=approver)
    outcome = await govern(scope, agent(refund), ToolCall.of("refund", {"number": "1", "amount": 5}))
    assert not outcome.executed and RAN == []
    assert outcome.content.endswith("refused: the approver failed (TypeError)")
    assert [r.event_type for r in await records(scope)] == [AuditEventType.APPROVAL_REJECTED,
                                                             AuditEventType.ACCESS_DENIED]


async def test_a_decision_altered_after_it_was_made_grants_nothing_unless_true() -> None:
    async def approver(request: ToolRequest) -> ApprovalDecision:
        decision = ApprovalDecision(True, "alice", "ok")
        object.__setattr__(decision, "granted", "false")  # forged past the checks of its (frozen) construction
        return decision

    scope = make_scope(policy=ToolPolicy({"refund": "confirm"}), approver=approver)
    outcome = await govern(scope, agent(refund), ToolCall.of("refund", {"number": "1", "amount": 5}))
    assert not outcome.executed and RAN == []


@settings(max_examples=30, deadline=None)
@given(plan=st.lists(st.tuples(st.sampled_from(["lookup", "refund", "nope"]), st.booleans()), min_size=1,
                     max_size=8),
       cap=st.integers(min_value=0, max_value=4))
def test_replayed_calls_count_like_calls_that_ran(plan: list[tuple[str, bool]], cap: int) -> None:
    """A durable run's calls run one by one, each a step; replaying any of them from its checkpoint leaves the
    caps, usage and mining exactly as if every call had run (the invariant a resumed run depends on)."""
    policy = ToolPolicy({"lookup": {"max_calls_per_run": cap, "price_per_call": 0.5}})
    calls = [ToolCall.of(name, {"number": str(i), "amount": 1} if name == "refund" else {"number": str(i)},
                         id=f"c{i}") for i, (name, _) in enumerate(plan)]

    async def run(replay: dict[str, Any] | None) -> tuple[Any, ...]:
        mined: list[tuple[str, str]] = []
        checkpoints: dict[str, Any] = {}

        async def step(call: ToolCall, body: Any) -> Any:
            if replay is not None and call.id in replay:
                return replay[call.id]
            checkpoints[call.id] = await body()
            return checkpoints[call.id]

        scope = make_scope(policy=policy, call_step=step,
                           mining=lambda activity, lifecycle, *rest: mined.append((activity, lifecycle)))
        outcomes = await govern_all(scope, agent(lookup, refund), calls)
        return ([(o.executed, o.decision) for o in outcomes], dict(scope.counts), scope.usage.calls,
                round(scope.usage.cost, 6), [m for m in mined if m[1] != "start"], checkpoints)

    async def both() -> None:
        live = await run(None)
        replayed_ids = {c.id for c, (_, replayed) in zip(calls, plan) if replayed}
        again = await run({k: v for k, v in live[5].items() if k in replayed_ids})
        assert again[:5] == live[:5]

    asyncio.run(both())


class RecordingTelemetry(NoTelemetry):
    """Telemetry that keeps each tool span's name, call id and result (a subclass: tracing is on)."""

    def __init__(self) -> None:
        self.spans: list[list[Any]] = []

    def tool(self, name: str, call_id: str = "", arguments: Any = None, *, description: str = "") -> Any:
        span = [name, call_id, None]
        self.spans.append(span)

        class Span:
            def set_result(self, result: Any) -> None:
                span[2] = result

        return contextlib.nullcontext(Span())


async def test_a_tool_span_gets_the_bounded_result_and_no_telemetry_gives_the_same_outcome() -> None:
    long = ToolCall("c-long", "lookup", json.dumps({"number": "N" * 300}))
    traced = RecordingTelemetry()
    outcomes = []
    for telemetry in (traced, NO_TELEMETRY):
        scope = make_scope(telemetry=telemetry, max_result_chars=100)
        outcomes.append(await govern(scope, agent(lookup), long))
        outcomes.append(await govern(scope, agent(explode), ToolCall("c-boom", "explode", "{}")))
    assert outcomes[0].content == outcomes[2].content and len(outcomes[0].content) == 100
    assert outcomes[1].content == outcomes[3].content and not outcomes[1].ok
    assert traced.spans == [["lookup", "c-long", outcomes[0].content], ["explode", "c-boom", None]]


# -- attacks found in review (2026-11-29): each makes the attacker's move ------------------------------------------
async def test_a_call_cancelled_while_its_tool_runs_still_gets_its_one_record() -> None:
    started = asyncio.Event()

    @tool
    async def send_email(to: str) -> str:
        """Send mail: the side effect first, then wait for a receipt."""
        RAN.append(("send_email", {"to": to}))
        started.set()
        await asyncio.sleep(30)
        return "sent"

    scope = make_scope()
    task = asyncio.create_task(govern(scope, agent(send_email), ToolCall.of("send_email", {"to": "eve"})))
    await started.wait()
    task.cancel()  # the run's timeout, or a streaming client that went away
    with pytest.raises(asyncio.CancelledError):
        await task
    assert RAN == [("send_email", {"to": "eve"})]
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACTION_FAILED and not rec.success and rec.resource_id == "send_email"
    assert rec.metadata["executed"] is True and rec.metadata["decision"] == "allow"
    assert "cancelled" in rec.error_message and "may have" in rec.error_message
    assert await scope.trail.verify_chain() == (True, [])


async def test_a_call_cancelled_while_it_waits_for_approval_is_recorded_as_not_run() -> None:
    asked = asyncio.Event()

    async def approver(request: ToolRequest) -> bool:
        asked.set()
        await asyncio.sleep(30)
        return True

    scope = make_scope(policy=ToolPolicy({"refund": "confirm"}), approver=approver)
    task = asyncio.create_task(govern(scope, agent(refund), ToolCall.of("refund", {"number": "1", "amount": 5})))
    await asked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (rec,) = await records(scope)
    assert rec.event_type is AuditEventType.ACCESS_DENIED and rec.metadata["executed"] is False
    assert "cancelled" in rec.error_message and RAN == []


@pytest.mark.parametrize("name", ["lookup", "no_such_tool"])
@pytest.mark.parametrize("depth", [65, 990, 5000])
async def test_arguments_nested_too_deep_are_refused_and_recorded_not_a_crash(name: str, depth: int) -> None:
    scope = make_scope()
    call = ToolCall("call_1", name, '{"number": ' + "[" * depth + "]" * depth + "}")
    outcome = await govern(scope, agent(lookup), call)
    assert not outcome.executed and RAN == []
    (rec,) = await records(scope)
    if name == "lookup":
        assert outcome.decision == "invalid_arguments" and "nested deeper than 64 levels" in outcome.content
        assert rec.event_type is AuditEventType.ACTION_FAILED and rec.metadata["decision"] == "invalid_arguments"
    else:
        assert outcome.decision == "deny" and rec.event_type is AuditEventType.ACCESS_DENIED


async def test_arguments_nested_64_deep_still_reach_validation() -> None:
    scope = make_scope()
    call = ToolCall("call_1", "lookup", '{"number": ' + "[" * 63 + "]" * 63 + "}")
    outcome = await govern(scope, agent(lookup), call)
    assert outcome.decision == "invalid_arguments" and "nested deeper" not in outcome.content  # pydantic's refusal


@pytest.mark.parametrize("arguments", [
    '{"card": 4.111111111111111e15}', '{"card": "4111_1111_1111_1111"}', '{"card": 4111111111111111}',
    '{"card": " 4111111111111111 "}',
])
async def test_a_sealed_number_is_refused_after_validation_turns_the_arguments_into_it(arguments: str) -> None:
    @tool
    async def pay(card: int) -> str:
        """Charge a card."""
        RAN.append(("pay", {"card": card}))
        return "paid"

    sealed = [SealedValue("vault", SensitivityLevel.SECRET, "4111111111111111")]
    scope = make_scope(sealed=lambda: sealed)
    outcome = await govern(scope, agent(pay), ToolCall("call_1", "pay", arguments))
    assert not outcome.executed and outcome.decision == "deny" and "sealed data of agent 'vault'" in outcome.content
    assert RAN == []
