"""Deadlines: tool-call timeouts enforced by one event-loop timer for all running calls, with asyncio.timeout's
semantics (an overdue call is cancelled and times out; a cancellation from elsewhere stays a cancellation)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam._deadline import Deadlines, within
from llmteam.audit import AuditEventType, AuditQuery, AuditTrail
from llmteam.audit.stores import MemoryAuditStore
from llmteam.context import SensitivityLevel
from llmteam.llm import ToolCall
from llmteam.tools import AgentTools, ToolRule, ToolScope, govern, govern_all, tool

from ._support.py310 import run_on_python310

HANG_GUARD = 10  # seconds: only stops a broken test from hanging, never what is asserted


@tool
async def quick(n: int) -> int:
    """Answers at once."""
    return n


def make_scope() -> ToolScope:
    trail = AuditTrail(MemoryAuditStore(), tenant_id="acme", use_context_tenant=False)
    return ToolScope("acme", "run-1", "team", trail)


def agent(*tools: Any, timeout: float) -> AgentTools:
    return AgentTools("worker", SensitivityLevel.INTERNAL, {t.name: t for t in tools},
                      {t.name: ToolRule(timeout=timeout) for t in tools})


async def test_calls_that_finish_in_time_share_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    # asyncio.timeout schedules one loop timer per call; the deadline table arms one for the whole timeout period
    loop = asyncio.get_running_loop()
    scheduled: list[float] = []
    call_at = loop.call_at

    def counting_call_at(when: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        scheduled.append(when)
        return call_at(when, callback, *args, **kw)

    monkeypatch.setattr(loop, "call_at", counting_call_at)
    scope = make_scope()
    outcomes = [await govern(scope, agent(quick, timeout=30), ToolCall.of("quick", {"n": i})) for i in range(50)]
    assert [o.content for o in outcomes] == [str(i) for i in range(50)]
    assert len(scheduled) == 1


async def test_a_shorter_timeout_started_later_is_still_enforced() -> None:
    release = asyncio.Event()

    @tool
    async def patient() -> str:
        """Waits to be released."""
        await release.wait()
        return "released"

    @tool
    async def stuck() -> str:
        """Never finishes."""
        await asyncio.Event().wait()
        return "late"

    scope = make_scope()
    first = asyncio.ensure_future(govern(scope, agent(patient, timeout=20), ToolCall.of("patient")))
    await asyncio.sleep(0)  # the long call is running, its deadline armed
    timed_out = await asyncio.wait_for(govern(scope, agent(stuck, timeout=0.02), ToolCall.of("stuck")), HANG_GUARD)
    assert timed_out.executed and not timed_out.ok and "did not finish within 0.02s" in timed_out.content
    assert not first.done()  # the overdue call was cancelled, not the one still in time
    release.set()
    assert (await asyncio.wait_for(first, HANG_GUARD)).content == "released"
    recs = await scope.trail.query(AuditQuery(limit=10, order_by="sequence_number", order_desc=False))
    assert [(r.resource_id, r.event_type) for r in recs] == [
        ("stuck", AuditEventType.ACTION_FAILED), ("patient", AuditEventType.ACTION_COMPLETED)]


async def test_a_call_that_swallows_the_cancellation_returns_and_leaves_no_cancellation_behind() -> None:
    # as with asyncio.timeout: the call is cancelled once; if it catches that and returns, its result stands
    async def obstinate() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "swallowed"
        return "woken"

    table = Deadlines(asyncio.get_running_loop())
    assert await asyncio.wait_for(table.run(obstinate(), 0.01), HANG_GUARD) == "swallowed"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # nothing left pending to cancel the caller


async def test_a_bounded_block_times_out_its_awaits_and_a_block_in_time_leaves_no_trace() -> None:
    table = Deadlines(asyncio.get_running_loop())
    steps: list[str] = []
    with pytest.raises(TimeoutError):
        with table.bound(0.01):
            await asyncio.sleep(0)
            steps.append("first await")
            await asyncio.sleep(HANG_GUARD)
            steps.append("never")
    assert steps == ["first await"]
    with table.bound(HANG_GUARD):
        assert await asyncio.sleep(0, "in time") == "in time"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0 and not table._running

    async def cancelled_from_outside() -> None:
        with table.bound(HANG_GUARD):
            await asyncio.Event().wait()

    runner = asyncio.ensure_future(cancelled_from_outside())
    await asyncio.sleep(0)
    runner.cancel()  # a cancellation from elsewhere stays a cancellation
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert not table._running


async def test_a_cancellation_from_elsewhere_while_timing_out_stays_a_cancellation() -> None:
    async def cancelled_meanwhile() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # the run is cancelled too (a second request) while the timeout's arrives
            raise

    table = Deadlines(asyncio.get_running_loop())
    runner = asyncio.ensure_future(table.run(cancelled_meanwhile(), 0.01))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(runner, HANG_GUARD)
    assert runner.cancelled()


def test_a_scope_used_from_a_second_event_loop_enforces_its_timeouts_there() -> None:
    @tool
    async def stuck() -> str:
        """Never finishes."""
        await asyncio.Event().wait()
        return "late"

    scope = make_scope()

    async def first() -> str:  # leaves a 30 s timer armed in this loop, which closes when the run ends
        return (await govern(scope, agent(quick, timeout=30), ToolCall.of("quick", {"n": 7}))).content

    async def second() -> str:
        call = govern(scope, agent(stuck, timeout=0.02), ToolCall.of("stuck"))
        return (await asyncio.wait_for(call, HANG_GUARD)).content

    assert asyncio.run(first()) == "7"
    assert asyncio.run(second()) == "error: tool 'stuck' did not finish within 0.02s"


@settings(max_examples=25, deadline=None)
@given(plan=st.lists(st.tuples(st.booleans(), st.sampled_from([0.01, 0.02, 0.04, 5.0])), min_size=1, max_size=8))
def test_every_overdue_call_times_out_and_every_other_one_finishes(plan: list[tuple[bool, float]]) -> None:
    """Concurrent calls with any mix of timeouts: a call that never finishes times out (its cleanup runs), a call
    that finishes is never cut short, the caller is left with no pending cancellation, and every call is audited."""
    cleaned: list[int] = []
    never = asyncio.Event()

    def make(i: int, finishes: bool) -> Any:
        async def body(n: int) -> int:
            try:
                if not finishes:
                    await never.wait()
                await asyncio.sleep(0)
                return n
            finally:
                cleaned.append(i)
        return tool(name=f"t{i}", description="a test tool")(body)

    tools = [make(i, finishes) for i, (finishes, _) in enumerate(plan)]
    stuck = [i for i, (finishes, timeout) in enumerate(plan) if not finishes and timeout == 5.0]
    tools_agent = AgentTools("worker", SensitivityLevel.INTERNAL, {t.name: t for t in tools},
                             {t.name: ToolRule(timeout=timeout) for t, (_, timeout) in zip(tools, plan)})

    async def main() -> None:
        scope = make_scope()
        calls = [ToolCall.of(t.name, {"n": i}) for i, t in enumerate(tools) if i not in stuck]
        outcomes = await asyncio.wait_for(govern_all(scope, tools_agent, calls), HANG_GUARD)
        for outcome in outcomes:
            i = int(outcome.call.name[1:])
            finishes, timeout = plan[i]
            assert outcome.ok == finishes, outcome
            assert outcome.content == (str(i) if finishes else f"error: tool 't{i}' did not finish within {timeout:g}s")
        assert sorted(cleaned) == sorted(int(c.name[1:]) for c in calls)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        recs = await scope.trail.query(AuditQuery(limit=100))
        assert sorted(r.metadata["call_id"] for r in recs) == sorted(c.id for c in calls)

    asyncio.run(main())


DEADLINES_ON_310 = """
import asyncio
from llmteam._deadline import Deadlines

async def main():
    deadlines = Deadlines(asyncio.get_running_loop())
    try:
        await deadlines.run(asyncio.sleep(1), 0.05)
    except TimeoutError as exc:
        print("TimeoutError", type(exc).__module__, type(exc).__qualname__)
    except BaseException as exc:
        print("escaped", type(exc).__module__, type(exc).__qualname__)
    print(await deadlines.run(asyncio.sleep(0, "in time"), 60))
    try:
        with deadlines.bound(0.05):
            await asyncio.sleep(1)
    except TimeoutError as exc:
        print("bound", type(exc).__module__, type(exc).__qualname__)
    with deadlines.bound(60):
        print(await asyncio.sleep(0, "block in time"))

asyncio.run(main())
"""


def test_an_overdue_call_times_out_with_the_builtin_timeout_error_on_python_310() -> None:
    # 3.10 has no Task.uncancel: asyncio.wait_for's asyncio.TimeoutError is not the built-in TimeoutError there (an
    # `except TimeoutError` around the call never saw it); Deadlines raises the built-in one
    assert run_on_python310(DEADLINES_ON_310).splitlines() == [
        "TimeoutError builtins TimeoutError", "in time", "bound builtins TimeoutError", "block in time"
    ]


async def test_within_bounds_a_call_by_its_deadline() -> None:
    now = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await within(asyncio.sleep(3600), now + 0.01)
    assert await within(asyncio.sleep(0, "done"), now + 60) == "done"
    assert await within(asyncio.sleep(0, "unbounded"), None) == "unbounded"


WITHIN_ON_310 = """
import asyncio
from llmteam._deadline import within

async def main():
    try:
        await within(asyncio.sleep(1), asyncio.get_running_loop().time() + 0.05)
    except TimeoutError as exc:
        print("TimeoutError", type(exc).__module__, type(exc).__qualname__)
    except BaseException as exc:
        print("escaped", type(exc).__module__, type(exc).__qualname__)

asyncio.run(main())
"""


def test_within_times_out_with_the_builtin_timeout_error_on_python_310() -> None:
    # 3.10 has no asyncio.timeout_at: within falls back to asyncio.wait_for, whose asyncio.TimeoutError is not the
    # built-in TimeoutError there, so the client's `except TimeoutError` (-> LLMTimeoutError) never saw it
    assert run_on_python310(WITHIN_ON_310) == "TimeoutError builtins TimeoutError"


CANCELLED_DURING_CLEANUP = """
import asyncio
from llmteam._deadline import Deadlines

async def main():
    deadlines = Deadlines(asyncio.get_running_loop())
    for how in ("bound", "run"):
        cleaning = asyncio.Event()

        async def body():
            try:
                await asyncio.sleep(1)
            finally:  # cleanup that awaits (closing a connection) while the timeout unwinds the call
                cleaning.set()
                await asyncio.sleep(0.5)

        async def call():
            if how == "run":
                return await deadlines.run(body(), 0.02)
            with deadlines.bound(0.02):
                await body()

        runner = asyncio.ensure_future(call())
        await cleaning.wait()
        runner.cancel()  # the caller is cancelled from outside during that cleanup
        try:
            await runner
            print(how, "returned")
        except asyncio.CancelledError:
            print(how, "CancelledError")
        except TimeoutError:
            print(how, "TimeoutError")
    try:  # a plain timeout is still one
        with deadlines.bound(0.02):
            await asyncio.sleep(1)
    except TimeoutError:
        print("timeout TimeoutError")

asyncio.run(main())
"""


def test_a_cancellation_from_elsewhere_during_a_timed_out_calls_cleanup_stays_one_on_python_310() -> None:
    # review 2026-11-29: 3.10 has no Task.cancelling/uncancel, so the exit of an expired block turned any
    # CancelledError into TimeoutError, also one from outside that arrived while the call's cleanup awaited: the
    # caller's cancellation was swallowed (Deadlines.run delegated to asyncio.wait_for on 3.10 before, which kept it)
    assert run_on_python310(CANCELLED_DURING_CLEANUP).splitlines() == [
        "bound CancelledError", "run CancelledError", "timeout TimeoutError"
    ]
