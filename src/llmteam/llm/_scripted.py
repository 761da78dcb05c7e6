"""``ScriptedLLM``: a deterministic, offline provider answering from a rule table (the MockTransport of models)."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Union

from llmteam.llm._errors import ScriptError
from llmteam.llm._types import (
    Completion,
    Message,
    StreamEvent,
    TextDelta,
    TokenUsage,
    ToolCall,
    ToolSpec,
    count_tokens,
    message_text,
    validate_messages,
)

Pattern = Union[str, "re.Pattern[str]", Callable[[str], bool]]
Reply = Union[str, ToolCall, Sequence[ToolCall]]
Answer = Union[Reply, Callable[[str], Reply]]
Rules = Union[Mapping[str, Answer], Iterable[tuple[Pattern, Answer]]]
Responder = Callable[[list[Message]], Union[Reply, None]]


def _matcher(pattern: Pattern) -> Callable[[str], bool]:
    if isinstance(pattern, re.Pattern):
        return lambda text: pattern.search(text) is not None
    if isinstance(pattern, str):
        needle = pattern.casefold()
        return lambda text: needle in text.casefold()
    if callable(pattern):
        return pattern
    raise TypeError(f"rule pattern {pattern!r} must be a substring, a compiled regex or a callable(prompt) -> bool")


def _is_reply(value: Any) -> bool:
    if isinstance(value, (str, ToolCall)):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, ToolCall) for v in value)


def _split(reply: Any, where: str) -> tuple[str, tuple[ToolCall, ...]]:
    if isinstance(reply, str):
        return reply, ()
    if isinstance(reply, ToolCall):
        return "", (reply,)
    if _is_reply(reply):
        return "", tuple(reply)
    raise ScriptError(f"{where} answered {reply!r:.200}; answer text, a ToolCall or a non-empty list of ToolCalls")


class ScriptedLLM:
    """Answers from rules checked in order against the last user message: the first match wins.

    A rule is ``(pattern, answer)``: the pattern is a case-insensitive substring, a compiled regex or a
    predicate; the answer is text, a :class:`ToolCall` or a list of them (parallel calls), or
    ``callable(prompt)`` returning one of those. A mapping ``{substring: answer}`` works too. With no match the
    ``default`` answers, or :class:`ScriptError` is raised. ``respond(messages)``, when given, is asked first with
    the whole conversation (tool results included) and may return None to fall through to the rules: that is
    how a multi-round tool loop is scripted. A rule that answers with tool calls answers only the first round:
    once tool results follow the last user message, it answers with their text. Token usage is counted
    deterministically (words and punctuation), so cost figures in tests are exact. ``delay`` plus
    ``seconds_per_token`` per completion token simulate a model's latency.
    """

    supports_tools = True

    def __init__(
        self,
        rules: Rules | None = None,
        *,
        default: Answer | None = None,
        respond: Responder | None = None,
        model: str = "scripted",
        delay: float = 0.0,
        seconds_per_token: float = 0.0,
        history_size: int = 100,
    ) -> None:
        for name, value in (("delay", delay), ("seconds_per_token", seconds_per_token)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"{name}={value!r} must be a number of seconds >= 0")
        if not isinstance(history_size, int) or history_size < 0:
            raise ValueError(f"history_size={history_size!r} must be an integer >= 0")
        if respond is not None and not callable(respond):
            raise TypeError(f"respond={respond!r} must be a callable(messages) -> answer or None")
        self.model = model
        self.default = default
        self.respond = respond
        self.delay = float(delay)
        self.seconds_per_token = float(seconds_per_token)
        self._rules: list[tuple[Callable[[str], bool], Answer, Pattern]] = []
        self.calls: deque[str] = deque(maxlen=history_size)
        self.tools_offered: deque[tuple[str, ...]] = deque(maxlen=history_size)
        self.call_count = 0
        items = rules.items() if isinstance(rules, Mapping) else (rules or ())
        for pattern, answer in items:
            self.add_rule(pattern, answer)

    def add_rule(self, pattern: Pattern, answer: Answer) -> ScriptedLLM:
        """Append a rule (checked after the existing ones); returns self for chaining."""
        if not _is_reply(answer) and not callable(answer):
            raise TypeError(
                f"rule answer {answer!r} must be text, a ToolCall, a list of ToolCalls or a callable(prompt)"
            )
        self._rules.append((_matcher(pattern), answer, pattern))
        return self

    def __repr__(self) -> str:
        return f"ScriptedLLM(model={self.model!r}, rules={len(self._rules)})"

    def _rule_answer(self, prompt: str) -> Reply:
        for match, answer, _ in self._rules:
            if match(prompt):
                return answer(prompt) if callable(answer) else answer
        if self.default is None:
            raise ScriptError(
                f"ScriptedLLM(model={self.model!r}) has no rule matching the prompt {prompt[:200]!r} "
                f"({len(self._rules)} rules); add a rule or a default answer"
            )
        return self.default(prompt) if callable(self.default) else self.default

    def answer_for(self, prompt: str) -> str:
        """The scripted text answer to ``prompt`` (no usage accounting, no delay)."""
        text, calls = _split(self._rule_answer(prompt), f"ScriptedLLM(model={self.model!r})")
        return text if not calls else "; ".join(f"{c.name}({c.arguments})" for c in calls)

    def reply_for(self, messages: list[Message]) -> tuple[str, tuple[ToolCall, ...]]:
        """The scripted text and tool calls answering the conversation ``messages``."""
        where = f"ScriptedLLM(model={self.model!r})"
        if self.respond is not None:
            reply = self.respond(messages)
            if reply is not None:
                return _split(reply, f"{where} respond()")
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=len(messages) - 1)
        prompt = message_text(messages[last_user])
        text, calls = _split(self._rule_answer(prompt), where)
        results = [m["content"] for m in messages[last_user + 1:] if m["role"] == "tool"]
        if calls and results:
            return "\n".join(results), ()
        return text, calls

    async def generate(self, prompt: str) -> str:
        """Answer one user prompt with the scripted text."""
        return (await self.complete([{"role": "user", "content": prompt}])).text

    async def complete(
        self, messages: list[Message], *, tools: Sequence[ToolSpec] | None = None, **options: Any
    ) -> Completion:
        """Answer from the script; usage counts every message as prompt tokens."""
        validate_messages(messages)
        last_user = next((m for m in reversed(messages) if m["role"] == "user"), messages[-1])
        self.call_count += 1
        self.calls.append(message_text(last_user))
        self.tools_offered.append(tuple(t.name for t in tools or ()))
        text, calls = self.reply_for(messages)
        if calls and not tools:
            raise ScriptError(
                f"ScriptedLLM(model={self.model!r}) scripted tool call(s) {[c.name for c in calls]} but no tools "
                "were offered; give the agent tools=[...]"
            )
        answer_tokens = count_tokens(text) + sum(count_tokens(f"{c.name} {c.arguments}") for c in calls)
        usage = TokenUsage(sum(count_tokens(message_text(m)) for m in messages), answer_tokens)
        pause = self.delay + self.seconds_per_token * usage.completion_tokens
        if pause:
            await asyncio.sleep(pause)
        return Completion(text=text, usage=usage, model=self.model,
                          finish_reason="tool_calls" if calls else "stop", tool_calls=calls)

    async def stream(
        self, messages: list[Message], *, tools: Sequence[ToolSpec] | None = None, **options: Any
    ) -> AsyncIterator[StreamEvent]:
        """The scripted answer word by word as :class:`TextDelta` s, then the :class:`Completion`."""
        completion = await self.complete(messages, tools=tools, **options)
        for piece in re.findall(r"\S+\s*|\s+", completion.text):
            yield TextDelta(piece)
        yield completion
