"""ScriptedLLM: ordered rules, deterministic usage, bounded history, clear errors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.llm import LLMProvider, ScriptedLLM, ScriptError, count_tokens


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
