"""Blocking (sync) tool functions run on the tools' own threads, at most a few per tenant at a time.

A sync function past its timeout cannot be stopped: its thread runs on until the function returns. Those threads
must never be the event loop's default executor (SQLite reads, DBOS and the server's file scans wait there), and
one tenant's stuck calls must not take the threads another tenant's calls need.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditTrail
from llmteam.audit.stores import MemoryAuditStore
from llmteam.context import SensitivityLevel
from llmteam.llm import ToolCall
from llmteam.tools import AgentTools, ToolRule, ToolScope, govern, tool
from llmteam.tools._threads import PER_TENANT, TOOL_THREADS, ToolThreads, tenant_scope

RELEASE = threading.Event()


@tool
def hangs(note: str) -> str:
    """Blocks until the test lets it go (a sync client call with no timeout of its own)."""
    RELEASE.wait(60)
    return note


@tool
def quick(note: str) -> str:
    """Returns at once."""
    return note.upper()


@pytest.fixture(autouse=True)
def _let_go() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()  # the stuck threads end with the test


def scope(tenant: str) -> ToolScope:
    return ToolScope(tenant, "run-1", "team", AuditTrail(MemoryAuditStore(), tenant_id=tenant,
                                                         use_context_tenant=False))


def agent(quick_timeout: float = 30) -> AgentTools:
    rules = {"hangs": ToolRule(timeout=0.05), "quick": ToolRule(timeout=quick_timeout)}
    return AgentTools("clerk", SensitivityLevel.INTERNAL, {"hangs": hangs, "quick": quick}, rules)


async def test_stuck_sync_tools_never_take_the_default_executor_or_another_tenants_threads() -> None:
    attacker = scope("mallory")
    stuck = await asyncio.gather(*(govern(attacker, agent(), ToolCall.of("hangs", {"note": str(i)}))
                                   for i in range(40)))  # more than any default executor has threads
    assert all(o.executed and not o.ok and "did not finish within 0.05s" in o.content for o in stuck)
    # the loop's default executor (database reads, DBOS) is free
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 10) == "free"
    # another tenant's sync tools still run
    other = await govern(scope("acme"), agent(), ToolCall.of("quick", {"note": "invoice"}))
    assert other.ok and other.content == "INVOICE"
    # the attacker holds its share of the tools' threads and no more: its next call waits for one, in its timeout
    assert TOOL_THREADS.running("mallory") == PER_TENANT
    late = await govern(attacker, agent(quick_timeout=0.2), ToolCall.of("quick", {"note": "x"}))
    assert not late.ok and "did not finish within 0.2s" in late.content
    RELEASE.set()  # the stuck functions return: their threads are given back
    for _ in range(200):
        if TOOL_THREADS.running("mallory") == 0:
            break
        await asyncio.sleep(0.05)
    assert TOOL_THREADS.running("mallory") == 0
    again = await govern(attacker, agent(), ToolCall.of("quick", {"note": "back"}))
    assert again.ok and again.content == "BACK"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from("ab"), min_size=1, max_size=12), st.integers(min_value=1, max_value=3))
def test_no_tenant_ever_runs_more_than_its_share_and_every_call_ends(tenants: list[str], share: int) -> None:
    threads = ToolThreads(max_threads=8, per_tenant=share)
    lock, now, peak = threading.Lock(), {"a": 0, "b": 0}, {"a": 0, "b": 0}

    def work(tenant: str) -> str:
        with lock:
            now[tenant] += 1
            peak[tenant] = max(peak[tenant], now[tenant])
        time.sleep(0.002)
        with lock:
            now[tenant] -= 1
        return tenant

    async def call(tenant: str) -> str:
        with tenant_scope(tenant):
            return await threads.run(lambda: work(tenant))

    async def main() -> list[str]:
        return await asyncio.gather(*(call(t) for t in tenants))

    assert asyncio.run(main()) == tenants
    assert max(peak.values()) <= share and threads.running("a") == threads.running("b") == 0
    assert not threads._waiting  # no waiter left behind


async def test_a_call_cancelled_while_waiting_for_its_share_leaves_nothing_behind() -> None:
    threads, gate = ToolThreads(max_threads=4, per_tenant=1), threading.Event()
    with tenant_scope("t"):
        first = asyncio.ensure_future(threads.run(lambda: gate.wait(30)))
        for _ in range(100):
            if threads.running("t"):
                break
            await asyncio.sleep(0.01)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(threads.run(lambda: "never"), 0.05)
        assert not threads._waiting and threads.running("t") == 1
        gate.set()
        assert await first is True
        assert await threads.run(lambda: "next") == "next" and threads.running("t") == 0
