"""Run-level tool settings and event streams: per-tenant policies and keys, Redis-shared tool limits, rt.stream."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest

from llmteam.llm import Completion, ScriptedLLM, TextDelta, ToolCall
from llmteam.ratelimit import RateLimitStrategy
from llmteam.team import Agent, Team, TeamConfigError, TeamError
from llmteam.team._stream import STREAM_BUFFER, ToolSettings
from llmteam.tools import ToolPolicy, tool


@tool
def ping(n: int) -> str:
    """Answer pong."""
    return f"pong {n}"


def test_tool_settings_pick_the_tenants_policy_and_key() -> None:
    own, default = ToolPolicy({"ping": "deny"}), ToolPolicy({"ping": "confirm"})
    settings = ToolSettings({"acme": own, "*": default}, None, {"acme": b"k1"})
    assert settings.policy_for("acme") is own and settings.policy_for("globex") is default
    assert (settings.key_for("acme"), settings.key_for("globex")) == (b"k1", None)
    assert ToolSettings(None, None, b"all").key_for("x") == b"all"
    assert ToolSettings({"acme": own}, None, None).policy_for("globex").rule("a", "ping").decision.value == "allow"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"tool_policy": {"acme": "deny"}}, "tool_policy="),
    ({"tool_policy": "deny"}, "tool_policy="),
    ({"approver": "yes"}, "approver='yes'"),
    ({"tool_digest_key": "secret"}, "tool_digest_key must be bytes"),
    ({"tool_digest_key": {"acme": "secret"}}, "tool_digest_key must be bytes"),
])
def test_bad_tool_settings_are_refused(kwargs: dict[str, Any], fragment: str) -> None:
    team = Team("t", llm=ScriptedLLM(default="x"), agents=[Agent("a", prompt="x")])
    with pytest.raises(TeamConfigError, match=fragment):
        team.runtime("memory://", **kwargs)


def pinger(calls: int) -> ScriptedLLM:
    def respond(messages: list[dict[str, Any]]) -> Any:
        if messages[-1]["role"] == "tool":
            return " | ".join(m["content"] for m in messages if m["role"] == "tool")
        return [ToolCall.of("ping", {"n": i}) for i in range(calls)]
    return ScriptedLLM(respond=respond)


@pytest.mark.redis
async def test_tool_rate_limits_are_shared_through_redis(redis_url: str, unique_name: str) -> None:
    team = Team("t", llm=pinger(1), agents=[Agent("a", prompt="go", tools=[ping])])
    policy = ToolPolicy({"ping": {"calls_per_minute": 2}})
    opts: dict[str, Any] = {"tenant": unique_name, "redis_url": redis_url, "tool_policy": policy,
                            "rate_limit_strategy": RateLimitStrategy.REJECT}
    async with team.runtime("memory://", **opts) as one, team.runtime("memory://", **opts) as two:
        outputs = [(await rt.run({})).output for rt in (one, two, one)]
    assert outputs[:2] == ["pong 0", "pong 0"]
    assert "rate-limited" in outputs[2]


async def test_stream_yields_events_in_order_with_tools() -> None:
    team = Team("t", llm=pinger(2), agents=[Agent("a", prompt="go {x}", tools=[ping]),
                                            Agent("b", prompt="then", llm=ScriptedLLM(default="ok"))])
    async with team.runtime("memory://", tenant="acme") as rt:
        events = [e async for e in rt.stream({"x": 1})]
    kinds = [e.kind for e in events]
    assert kinds[0] == "step_started" and kinds[-1] == "run_finished"
    assert kinds.count("tool_requested") == kinds.count("tool_decided") == kinds.count("tool_finished") == 2
    assert [e.agent for e in events if e.kind == "step_finished"] == ["a", "b"]
    assert all(e.run_id == events[-1].result.run_id for e in events)  # type: ignore[union-attr]
    assert {e.step for e in events if e.agent == "a"} == {1} and events[-1].data["usage"]["tool_calls"] == 2


async def test_a_failing_run_raises_after_its_events() -> None:
    team = Team("t", llm=ScriptedLLM(), agents=[Agent("a", prompt="go")])  # no rule and no default: ScriptError
    async with team.runtime("memory://", tenant="acme") as rt:
        seen: list[str] = []
        with pytest.raises(Exception, match="no rule matching"):
            async for event in rt.stream({}):
                seen.append(event.kind)
        assert seen == ["step_started"]
        assert (await rt.runs())[0].status == "failed"


async def test_leaving_the_stream_early_cancels_the_run() -> None:
    team = Team("t", llm=ScriptedLLM(default=" ".join(["word"] * (STREAM_BUFFER * 4))), agents=[
        Agent("a", prompt="go")])
    async with team.runtime("memory://", tenant="acme") as rt:
        async with aclosing(rt.stream({})) as events:
            async for event in events:
                if event.kind == "token":
                    break
        (run,) = await rt.runs()
    assert run.status == "failed" and "Cancelled" in (run.error or "")


class SilentStreamer:
    """Streams text but never a final Completion: a broken provider."""

    model = "silent"
    supports_tools = True

    async def generate(self, prompt: str) -> str:
        return ""

    async def complete(self, messages: Any, **options: Any) -> Completion:
        return Completion("")

    async def stream(self, messages: Any, **options: Any) -> Any:
        yield TextDelta("half")


async def test_a_stream_without_a_final_completion_fails_the_step_clearly() -> None:
    team = Team("t", llm=SilentStreamer(), agents=[Agent("a", prompt="go")])
    async with team.runtime("memory://", tenant="acme") as rt:
        with pytest.raises(TeamError, match="ended its stream without a final Completion"):
            async for _ in rt.stream({}):
                pass
        assert (await rt.run({})).output == ""  # without a listener the same provider is asked with complete()


async def test_a_sealed_agents_tokens_never_reach_the_stream() -> None:
    """A SECRET agent's output is sealed in its step_finished event: its tokens must not leak it as it streams."""
    team = Team("t", llm=ScriptedLLM(default="vault code acct-7731-zeta"), agents=[
        Agent("vault", prompt="go", sensitivity="secret"),
        Agent("b", prompt="then", llm=ScriptedLLM(default="public words")),
    ])
    async with team.runtime("memory://", tenant="acme") as rt:
        events = [e async for e in rt.stream({})]
    assert [e.agent for e in events if e.kind == "token"] and {e.agent for e in events if e.kind == "token"} == {"b"}
    assert "acct-7731-zeta" not in repr([(e.kind, e.agent, e.data) for e in events])
