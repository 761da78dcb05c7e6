"""The provider protocol and its value types: messages in, a :class:`Completion` with token usage out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]
"""A chat message: ``{"role": "system"|"user"|"assistant", "content": "..."}``."""

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A deterministic token estimate (words and punctuation marks) for providers that report no usage."""
    return len(_TOKEN_RE.findall(text))


@dataclass
class TokenUsage:
    """Tokens spent by one completion, as reported by the provider (or estimated when it reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    """One model answer: the text, its token usage, the model that produced it and why it stopped."""

    text: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str = ""
    finish_reason: str = "stop"
    raw: dict[str, Any] | None = field(default=None, repr=False)


@runtime_checkable
class LLMProvider(Protocol):
    """What the team runtime and ``roles.LLMBasedStrategy`` need from a model."""

    model: str

    async def generate(self, prompt: str) -> str:
        """Answer one user prompt with plain text (what ``LLMBasedStrategy`` calls)."""
        ...

    async def complete(self, messages: list[Message], **options: Any) -> Completion:
        """Answer a chat conversation; ``options`` (temperature, max_tokens, ...) go to the model as is."""
        ...


def validate_messages(messages: Any) -> list[Message]:
    """Return ``messages`` if it is a non-empty list of role/content string dicts, else raise ValueError naming it."""
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"messages must be a non-empty list of {{'role', 'content'}} dicts, got {messages!r:.200}")
    for i, msg in enumerate(messages):
        if (
            not isinstance(msg, dict)
            or not isinstance(msg.get("role"), str)
            or not isinstance(msg.get("content"), str)
        ):
            raise ValueError(f"messages[{i}] = {msg!r:.200} is not a {{'role': str, 'content': str}} dict")
    return messages
