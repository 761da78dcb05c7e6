"""The runtime's rate limiters: one per tenant, name and rate, kept while in use, LRU-bounded."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.llm import ScriptedLLM, ToolCall
from llmteam.ratelimit import RateLimitStrategy
from llmteam.team import Agent, Team
from llmteam.team._limiters import Limiters
from llmteam.tools import tool


def test_a_second_rate_for_the_same_name_does_not_replace_the_first() -> None:
    limiters = Limiters(RateLimitStrategy.REJECT, 0.0, 100)
    one = limiters.named("acme", "tool:send_sms", 1)
    ten = limiters.named("acme", "tool:send_sms", 10)
    assert one is not ten
    assert limiters.named("acme", "tool:send_sms", 1) is one  # the 1/minute state (its spent permits) is kept
    assert limiters.named("other", "tool:send_sms", 1) is not one  # tenants never share one


def test_the_least_recently_used_limiter_is_dropped_past_the_bound() -> None:
    limiters = Limiters(RateLimitStrategy.REJECT, 0.0, 2)
    first = limiters.named("acme", "a", 1)
    limiters.named("acme", "b", 1)
    limiters.named("acme", "a", 1)  # used again: now the most recent
    limiters.named("acme", "c", 1)
    assert limiters.named("acme", "a", 1) is first
    assert len(limiters._limiters) == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["acme", "beta"]), st.sampled_from(["tool:x", "tool:y"]),
                          st.sampled_from([1.0, 10.0, 60.0])), max_size=40), st.integers(1, 6))
def test_each_tenant_name_and_rate_keeps_its_limiter_while_it_is_among_the_most_recent(
    uses: list[tuple[str, str, float]], bound: int,
) -> None:
    limiters = Limiters(RateLimitStrategy.REJECT, 0.0, bound)
    seen: dict[tuple[str, str, float], Any] = {}
    recent: list[tuple[str, str, float]] = []  # least recent first, as a reference LRU
    for key in uses:
        limiter = limiters.named(*key)
        if key in recent:
            assert limiter is seen[key]  # never rebuilt (its spent permits stay spent) while kept
            recent.remove(key)
        recent.append(key)
        del recent[:-bound]
        seen[key] = limiter
        assert len(limiters._limiters) == len(recent) <= bound
    assert len({id(v) for v in limiters._limiters.values()}) == len(recent)


async def test_an_agent_with_a_higher_rate_does_not_reset_another_agents_lower_one() -> None:
    # the attacker's move (review, 2026-11-29): agent b's 10/minute declaration for the same tool rebuilt the
    # shared limiter on each use, so agent a's 1/minute tool ran on every run
    ran: list[str] = []

    @tool
    def send_sms(to: str) -> str:
        """Send an SMS (costs money)."""
        ran.append(to)
        return "sent"

    def model(messages: list[dict[str, Any]]) -> Any:
        if messages[-1]["role"] == "tool":
            return "done"
        return ToolCall.of("send_sms", {"to": messages[0]["content"][:1]})

    team = Team("sms", llm=ScriptedLLM(respond=model), agents=[
        Agent("a", prompt="A{q}", tools=[send_sms], tool_rules={"send_sms": {"calls_per_minute": 1}}),
        Agent("b", prompt="B{q}", tools=[send_sms], tool_rules={"send_sms": {"calls_per_minute": 10}}),
    ])
    async with team.runtime("memory://", tenant="acme") as rt:
        for _ in range(2):  # within the tenant's model calls a minute
            await rt.run({"q": "go"})
    assert ran.count("A") == 1 and ran.count("B") == 2
