"""The provider protocol and its value types: messages in, a :class:`Completion` with token usage out.

Tool calling follows the chat-completions wire format: a provider is offered :class:`ToolSpec` s, answers with
:class:`ToolCall` s (arguments as the raw JSON text the model sent), and the caller feeds each result back as a
``{"role": "tool", "tool_call_id": ..., "content": ...}`` message after the assistant message that asked for it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

from llmteam._text import unicode_text
from llmteam.llm._errors import LLMResponseError

Message = dict[str, Any]
"""A chat message: ``{"role": "system"|"user"|"assistant", "content": str}``; an assistant message may carry
``"tool_calls"`` (its ``content`` may then be None) and a ``{"role": "tool", "tool_call_id": str, "content": str}``
message answers one of them."""

ROLES = frozenset({"system", "user", "assistant", "tool"})
MAX_TOOL_CALLS = 128
"""The most tool calls one model answer may ask for; an answer asking for more is refused whole
(:func:`check_tool_call_count`). Governance runs at most 64 of one answer's calls and refuses the rest one by one."""
MAX_SERVED_NAME = 256
"""The most characters of a model name or finish reason a :class:`Completion` keeps (a server chooses them)."""
_SERVED_NAMES = frozenset({"model", "finish_reason"})
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A deterministic token estimate (words and punctuation marks) for providers that report no usage."""
    return len(_TOKEN_RE.findall(text))


def check_tool_call_count(count: int, source: str) -> None:
    """Refuse an answer of ``source`` (a model, a URL) asking for ``count`` > :data:`MAX_TOOL_CALLS` tool calls.

    Each call would be governed, audited and answered with a tool message: a broken or hostile model (or server)
    could otherwise turn one answer of a few hundred kilobytes into thousands of audit records. Providers check as
    they read an answer (before building its calls); :class:`Completion` checks whatever a provider built.
    """
    if count > MAX_TOOL_CALLS:
        raise LLMResponseError(
            f"{source} asked for {count:,} tool calls in one answer; at most {MAX_TOOL_CALLS} are accepted, so "
            "the answer is refused whole (a model asking for that many at once is broken or hostile: ask it for "
            "fewer calls at a time)"
        )


@dataclass
class TokenUsage:
    """Tokens spent by one completion, as reported by the provider (or estimated when it reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolSpec:
    """A tool as offered to a model: its name, what it does, and the JSON Schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def to_openai(self) -> dict[str, Any]:
        """The chat-completions ``tools`` entry for this tool."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": dict(self.parameters)}}


@dataclass(frozen=True)
class ToolCall:
    """One tool call requested by a model: ``arguments`` is the raw JSON text as the model sent it."""

    id: str
    name: str
    arguments: str

    def __post_init__(self) -> None:
        # an id or name that is not valid Unicode (a lone surrogate from a JSON escape) gets U+FFFD in its place,
        # so the refusal of an unknown tool can name it and audit it; the arguments are kept as sent: governance
        # refuses arguments that are not text rather than handing a tool altered ones
        for name in ("id", "name", "arguments"):
            value = getattr(self, name)
            if type(value) is not str:  # a provider's int id would fail only later, where the call is audited
                if not isinstance(value, str):
                    raise TypeError(f"ToolCall {name}={value!r:.80} must be text, not {type(value).__name__}")
                value = str.__str__(value)
                object.__setattr__(self, name, value)
            if name != "arguments":
                object.__setattr__(self, name, unicode_text(value))

    @classmethod
    def of(cls, name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None) -> ToolCall:
        """A call to ``name`` with ``arguments`` (a mapping is encoded as JSON); the id is random unless given."""
        text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
        return cls(id or f"call_{uuid.uuid4().hex[:24]}", name, text)

    def to_message(self) -> dict[str, Any]:
        """The wire form inside an assistant message's ``tool_calls`` list."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Completion:
    """One model answer: the text, any tool calls, its token usage, the model that produced it and why it stopped.

    ``refusal``: the model's refusal message when it declined to answer (the wire format's ``message.refusal``);
    ``text`` then holds that message too unless the model also wrote content. ``model`` and ``finish_reason`` keep
    at most :data:`MAX_SERVED_NAME` characters; ``tool_calls`` may hold at most :data:`MAX_TOOL_CALLS` calls.
    """

    text: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str = ""
    finish_reason: str = "stop"
    raw: dict[str, Any] | None = field(default=None, repr=False)
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None

    def __post_init__(self) -> None:
        # whatever the provider: text that is not valid Unicode (JSON can escape a lone UTF-16 surrogate) is made
        # valid here, before it is digested, audited, stored or shown (see llmteam._text.unicode_text)
        # (a name the server chose is also logged and stored with the run: bounded)
        for name in ("text", "model", "finish_reason", "refusal"):
            value = getattr(self, name)
            if type(value) is str:
                value = unicode_text(value)
                setattr(self, name, value[:MAX_SERVED_NAME] if name in _SERVED_NAMES else value)
        check_tool_call_count(len(self.tool_calls), f"model {self.model!r}")

    def to_message(self) -> Message:
        """The assistant message to append to the conversation before the tool results."""
        message: Message = {"role": "assistant", "content": (self.text or None) if self.tool_calls else self.text}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text as it streams in (valid Unicode, as :class:`Completion`'s text)."""

    text: str

    def __post_init__(self) -> None:
        if type(self.text) is str:
            object.__setattr__(self, "text", unicode_text(self.text))


StreamEvent = Union[TextDelta, Completion]
"""What ``stream()`` yields: text deltas, then exactly one final :class:`Completion` (with exact usage)."""


@runtime_checkable
class LLMProvider(Protocol):
    """What the team runtime and ``roles.LLMBasedStrategy`` need from a model.

    A provider that can call tools sets ``supports_tools = True`` and accepts ``tools=`` in :meth:`complete`;
    one that streams implements :class:`StreamingProvider` too (check with :func:`supports_tools`).
    """

    model: str

    async def generate(self, prompt: str) -> str:
        """Answer one user prompt with plain text (what ``LLMBasedStrategy`` calls)."""
        ...

    async def complete(self, messages: list[Message], **options: Any) -> Completion:
        """Answer a chat conversation; ``options`` (temperature, max_tokens, ``tools``...) go to the model as is."""
        ...


@runtime_checkable
class StreamingProvider(Protocol):
    """A provider that streams: text deltas as they arrive, then the final :class:`Completion`."""

    def stream(
        self, messages: list[Message], *, tools: Sequence[ToolSpec] | None = None, **options: Any
    ) -> AsyncIterator[StreamEvent]:
        """Yield :class:`TextDelta` s, then one :class:`Completion` with the exact usage and any tool calls."""
        ...


def supports_tools(llm: object) -> bool:
    """True when ``llm`` declares ``supports_tools = True`` (it accepts ``tools=`` and returns tool calls)."""
    return getattr(llm, "supports_tools", False) is True


def message_text(message: Message) -> str:
    """The text a message contributes to a prompt (tool-call names and arguments included, for token estimates)."""
    parts = [message.get("content") or ""]
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    return " ".join(p for p in parts if p)


def _bad(i: int, msg: Any, why: str) -> ValueError:
    return ValueError(f"messages[{i}] = {msg!r:.200} is not a valid chat message: {why}")


def _check_tool_calls(i: int, msg: Message) -> None:
    calls = msg["tool_calls"]
    if not isinstance(calls, list) or not calls:
        raise _bad(i, msg, "'tool_calls' must be a non-empty list")
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if (not isinstance(call.get("id"), str) or not isinstance(function, dict)
                or not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str)):
            raise _bad(i, msg, "each tool call needs 'id' and 'function': {'name': str, 'arguments': str}")


def validate_messages(messages: Any) -> list[Message]:
    """Return ``messages`` if it is a non-empty list of well-formed chat messages, else raise ValueError naming it.

    Roles are system, user, assistant and tool; content is text, except an assistant message with ``tool_calls``
    whose content may be None; a tool message needs a string ``tool_call_id``.
    """
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"messages must be a non-empty list of {{'role', 'content'}} dicts, got {messages!r:.200}")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise _bad(i, msg, f"'role' must be one of {sorted(ROLES)}")
        content = msg.get("content")
        if msg["role"] == "assistant" and "tool_calls" in msg:
            _check_tool_calls(i, msg)
            if content is not None and not isinstance(content, str):
                raise _bad(i, msg, "'content' must be a string or None")
            continue
        if not isinstance(content, str):
            raise _bad(i, msg, "'content' must be a string")
        if msg["role"] == "tool" and not isinstance(msg.get("tool_call_id"), str):
            raise _bad(i, msg, "a tool message needs a string 'tool_call_id'")
    return messages
