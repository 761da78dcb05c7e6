"""``ScriptedLLM``: a deterministic, offline provider answering from a rule table (the MockTransport of models)."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Union

from llmteam.llm._errors import ScriptError
from llmteam.llm._types import Completion, Message, TokenUsage, count_tokens, validate_messages

Pattern = Union[str, "re.Pattern[str]", Callable[[str], bool]]
Answer = Union[str, Callable[[str], str]]
Rules = Union[Mapping[str, Answer], Iterable[tuple[Pattern, Answer]]]


def _matcher(pattern: Pattern) -> Callable[[str], bool]:
    if isinstance(pattern, re.Pattern):
        return lambda text: pattern.search(text) is not None
    if isinstance(pattern, str):
        needle = pattern.casefold()
        return lambda text: needle in text.casefold()
    if callable(pattern):
        return pattern
    raise TypeError(f"rule pattern {pattern!r} must be a substring, a compiled regex or a callable(prompt) -> bool")


class ScriptedLLM:
    """Answers from rules checked in order against the last user message: the first match wins.

    A rule is ``(pattern, answer)``: the pattern is a case-insensitive substring, a compiled regex or a
    predicate; the answer is text or ``callable(prompt) -> text``. A mapping ``{substring: answer}`` works too.
    With no match the ``default`` answers, or :class:`ScriptError` is raised. Token usage is counted
    deterministically (words and punctuation), so cost figures in tests are exact. ``delay`` plus
    ``seconds_per_token`` per completion token simulate a model's latency.
    """

    def __init__(
        self,
        rules: Rules | None = None,
        *,
        default: Answer | None = None,
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
        self.model = model
        self.default = default
        self.delay = float(delay)
        self.seconds_per_token = float(seconds_per_token)
        self._rules: list[tuple[Callable[[str], bool], Answer, Pattern]] = []
        self.calls: deque[str] = deque(maxlen=history_size)
        self.call_count = 0
        items = rules.items() if isinstance(rules, Mapping) else (rules or ())
        for pattern, answer in items:
            self.add_rule(pattern, answer)

    def add_rule(self, pattern: Pattern, answer: Answer) -> ScriptedLLM:
        """Append a rule (checked after the existing ones); returns self for chaining."""
        if not isinstance(answer, str) and not callable(answer):
            raise TypeError(f"rule answer {answer!r} must be text or a callable(prompt) -> text")
        self._rules.append((_matcher(pattern), answer, pattern))
        return self

    def __repr__(self) -> str:
        return f"ScriptedLLM(model={self.model!r}, rules={len(self._rules)})"

    def answer_for(self, prompt: str) -> str:
        """The scripted answer to ``prompt`` (no usage accounting, no delay)."""
        for match, answer, _ in self._rules:
            if match(prompt):
                return answer if isinstance(answer, str) else str(answer(prompt))
        if self.default is None:
            raise ScriptError(
                f"ScriptedLLM(model={self.model!r}) has no rule matching the prompt {prompt[:200]!r} "
                f"({len(self._rules)} rules); add a rule or a default answer"
            )
        return self.default if isinstance(self.default, str) else str(self.default(prompt))

    async def generate(self, prompt: str) -> str:
        """Answer one user prompt with the scripted text."""
        return (await self.complete([{"role": "user", "content": prompt}])).text

    async def complete(self, messages: list[Message], **options: Any) -> Completion:
        """Answer the last user message from the rules; usage counts every message as prompt tokens."""
        validate_messages(messages)
        prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"])
        self.call_count += 1
        self.calls.append(prompt)
        text = self.answer_for(prompt)
        usage = TokenUsage(sum(count_tokens(m["content"]) for m in messages), count_tokens(text))
        pause = self.delay + self.seconds_per_token * usage.completion_tokens
        if pause:
            await asyncio.sleep(pause)
        return Completion(text=text, usage=usage, model=self.model)
