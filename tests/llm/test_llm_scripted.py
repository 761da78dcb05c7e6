"""ScriptedLLM: ordered rules, deterministic usage, bounded history, clear errors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.llm import (
    Completion,
    LLMProvider,
    ScriptedLLM,
    ScriptError,
    TextDelta,
    ToolCall,
    ToolSpec,
    count_tokens,
    validate_messages,
)


async def test_first_matching_rule_wins() -> None:
    llm = ScriptedLLM([("invoice", "billing"), (re.compile(r"pass\w+"), "account"), ("INVOICE", "never")])
    assert await llm.generate("My Invoice is wrong") == "billing"
    assert await llm.generate("reset my password") == "account"
    assert isinstance(llm, LLMProvider)


async def test_mapping_callables_and_default() -> None:
    llm = ScriptedLLM({"echo": lambda p: p.upper()}, default=lambda p: f"len={len(p)}")
    llm.add_rule(lambda p: p.startswith("!"), "bang")
    assert await llm.generate("echo me") == "ECHO ME"
    assert await llm.generate("!x") == "bang"
    assert await llm.generate("abc") == "len=3"


async def test_usage_is_deterministic() -> None:
    llm = ScriptedLLM(default="one two, three")
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there!"}]
    c = await llm.complete(msgs)
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (5, 4, 9)
    assert c.model == "scripted"
    assert llm.calls[-1] == "hi there!"


async def test_no_rule_no_default() -> None:
    llm = ScriptedLLM({"a": "b"})
    with pytest.raises(ScriptError, match="no rule matching the prompt 'zzz'"):
        await llm.generate("zzz")


async def test_history_is_bounded() -> None:
    llm = ScriptedLLM(default="x", history_size=3)
    for i in range(10):
        await llm.generate(str(i))
    assert list(llm.calls) == ["7", "8", "9"] and llm.call_count == 10


def test_bad_rules() -> None:
    with pytest.raises(TypeError, match="pattern 42"):
        ScriptedLLM([(42, "x")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="answer 42"):
        ScriptedLLM({"a": 42})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="delay=-1"):
        ScriptedLLM(delay=-1)
    with pytest.raises(ValueError, match="seconds_per_token=nan"):
        ScriptedLLM(seconds_per_token=float("nan"))


async def test_simulated_latency_scales_with_answer_length() -> None:
    import time

    llm = ScriptedLLM({"long": "a " * 20, "short": "a"}, delay=0.01, seconds_per_token=0.005)
    start = time.perf_counter()
    await llm.generate("short")
    short = time.perf_counter() - start
    start = time.perf_counter()
    await llm.generate("long")
    long = time.perf_counter() - start
    assert short >= 0.014 and long >= 0.11 and long > short


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_count_tokens_additive_over_whitespace(text: str) -> None:
    assert count_tokens(text + " " + text) == 2 * count_tokens(text)
    assert count_tokens(text) <= len(text)


# --- tool calls and streaming -------------------------------------------------------------------------------------


_SPEC = ToolSpec("lookup", "Look up.", {"type": "object"})


async def test_rule_answering_with_tool_calls_then_the_tool_results() -> None:
    calls = [ToolCall.of("lookup", {"n": 1}, id="a"), ToolCall.of("lookup", {"n": 2}, id="b")]
    llm = ScriptedLLM({"invoice": calls})
    first = await llm.complete([{"role": "user", "content": "invoice?"}], tools=[_SPEC])
    assert first.tool_calls == tuple(calls) and first.finish_reason == "tool_calls" and first.text == ""
    convo = [{"role": "user", "content": "invoice?"}, first.to_message(),
             {"role": "tool", "tool_call_id": "a", "content": "one"},
             {"role": "tool", "tool_call_id": "b", "content": "two"}]
    validate_messages(convo)
    second = await llm.complete(convo, tools=[_SPEC])
    assert second.tool_calls == () and second.text == "one\ntwo"
    assert llm.tools_offered[-1] == ("lookup",)


async def test_respond_sees_the_whole_conversation_and_may_fall_through() -> None:
    def respond(messages: list[dict]) -> object:
        tools_done = sum(m["role"] == "tool" for m in messages)
        return None if tools_done >= 2 else ToolCall.of("lookup", {"round": tools_done})

    llm = ScriptedLLM(default="done", respond=respond)
    convo: list[dict] = [{"role": "user", "content": "go"}]
    for expected in (0, 1):
        answer = await llm.complete(convo, tools=[_SPEC])
        assert answer.tool_calls[0].arguments == f'{{"round": {expected}}}'
        convo += [answer.to_message(), {"role": "tool", "tool_call_id": answer.tool_calls[0].id, "content": "ok"}]
    assert (await llm.complete(convo, tools=[_SPEC])).text == "done"


async def test_scripted_tool_calls_without_offered_tools_are_an_error() -> None:
    llm = ScriptedLLM(default=ToolCall.of("lookup"))
    with pytest.raises(ScriptError, match="no tools were offered"):
        await llm.complete([{"role": "user", "content": "x"}])
    with pytest.raises(ScriptError, match="answer text, a ToolCall"):
        await ScriptedLLM(respond=lambda m: 42).complete([{"role": "user", "content": "x"}])  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="must be text, a ToolCall"):
        ScriptedLLM({"x": 3})  # type: ignore[dict-item]


async def test_stream_yields_words_then_the_completion() -> None:
    llm = ScriptedLLM(default="three little words")
    events = [e async for e in llm.stream([{"role": "user", "content": "x"}])]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["three ", "little ", "words"]
    assert isinstance(events[-1], Completion) and events[-1].text == "three little words"


@pytest.mark.parametrize("message, fragment", [
    ({"role": "tool", "content": "x"}, "tool_call_id"),
    ({"role": "robot", "content": "x"}, "'role' must be one of"),
    ({"role": "assistant", "content": None, "tool_calls": []}, "non-empty list"),
    ({"role": "assistant", "content": None, "tool_calls": [{"id": "a", "function": {"name": "f"}}]}, "'arguments'"),
    ({"role": "assistant", "content": 3, "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": ""}}]},
     "string or None"),
    ({"role": "user", "content": None}, "'content' must be a string"),
])
def test_validate_messages_names_what_is_wrong(message: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        validate_messages([message])
