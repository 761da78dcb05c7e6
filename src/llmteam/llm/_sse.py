"""Reading chat-completions answers: a whole JSON body, or a server-sent-events stream of chunks."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from llmteam._deadline import within
from llmteam.llm._errors import LLMResponseError
from llmteam.llm._types import (
    Completion,
    Message,
    StreamEvent,
    TextDelta,
    TokenUsage,
    ToolCall,
    check_tool_call_count,
    count_tokens,
    message_text,
)

MAX_RESPONSE_BYTES = 32 * 2**20  # the default bound of one answer's body, streamed or not, once decompressed
ERROR_BODY_BYTES = 64 * 2**10  # what is kept of an error answer's body (its message is quoted from the start)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Answer:
    """A whole answer read within a bound: its status, headers and body (what the parsers read of a response)."""

    def __init__(self, status_code: int, headers: Any, reason_phrase: str, content: bytes) -> None:
        self.status_code, self.headers, self.reason_phrase, self.content = status_code, headers, reason_phrase, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _too_long(url: str, limit: int) -> LLMResponseError:
    return LLMResponseError(f"POST {url} answered more than {limit:,} bytes; refusing the rest (raise "
                            "max_response_bytes= if this model's answers are really that long)")


async def _chunks(response: Any, url: str, limit: int, *, truncate: bool = False,
                  deadline: float | None = None) -> AsyncIterator[bytes]:
    """The body's chunks (decompressed), at most ``limit`` bytes in all: past it LLMResponseError, or with
    ``truncate`` the chunks up to the limit and no more. The one place an answer's size is bounded; each chunk is
    awaited :func:`within` ``deadline`` (TimeoutError past it)."""
    size = 0
    body = response.aiter_bytes()
    while True:
        try:
            chunk = await within(body.__anext__(), deadline)
        except StopAsyncIteration:
            return
        if size + len(chunk) > limit:
            if not truncate:
                raise _too_long(url, limit)
            yield chunk[: limit - size]
            return
        size += len(chunk)
        yield chunk


async def read_answer(response: Any, url: str, limit: int, *, truncate: bool = False) -> Answer:
    """The body of ``response`` (an httpx response opened with ``stream=True``), closed after, read as
    :func:`_chunks` bounds it."""
    try:
        content = b"".join([chunk async for chunk in _chunks(response, url, limit, truncate=truncate)])
    finally:
        await response.aclose()
    return Answer(response.status_code, response.headers, response.reason_phrase, content)


async def _lines(response: Any, url: str, limit: int, deadline: float | None = None) -> AsyncIterator[str]:
    """The lines of a streamed body (CR, LF or CRLF ends one), at most ``limit`` bytes in all (LLMResponseError)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending: list[str] = []  # the start of a line not yet ended (a CRLF split between chunks adds a blank line)
    async for chunk in _chunks(response, url, limit, deadline=deadline):
        pieces = _LINE_BREAK.split(decoder.decode(chunk))
        if len(pieces) > 1:
            pending.append(pieces[0])
            yield "".join(pending)
            for line in pieces[1:-1]:
                yield line
            pending = []
        pending.append(pieces[-1])
    rest = "".join(pending) + decoder.decode(b"", final=True)
    if rest:
        yield rest


MAX_REPORTED_TOKENS = 10**9  # no context window is near this; a larger count is a broken or hostile server's


def _token_count(reported: Any, text: str) -> int:
    """The server's token count if it is a sane integer (0 to :data:`MAX_REPORTED_TOKENS`), else our estimate of
    ``text``: a count of 10**28 would overflow the stores' 64-bit integers and fail the run after its model call."""
    if isinstance(reported, int) and not isinstance(reported, bool) and 0 <= reported <= MAX_REPORTED_TOKENS:
        return reported
    return count_tokens(text)


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value)  # a few servers send the arguments as an object rather than JSON text


def _tool_calls(raw: Any, source: str) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TypeError(f"tool_calls is {type(raw).__name__}, not a list")
    check_tool_call_count(len(raw), source)
    calls: list[ToolCall] = []
    for item in raw:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TypeError(f"tool call {item!r:.200} has no function name")
        calls.append(ToolCall(str(item.get("id") or f"call_{len(calls)}"), function["name"],
                              _arguments(function.get("arguments"))))
    return tuple(calls)


def _usage(usage: Any, messages: list[Message], answer: str) -> TokenUsage:
    usage = usage if isinstance(usage, dict) else {}
    sent = " ".join(message_text(m) for m in messages)
    return TokenUsage(_token_count(usage.get("prompt_tokens"), sent),
                      _token_count(usage.get("completion_tokens"), answer))


def _answer_text(text: str, calls: tuple[ToolCall, ...]) -> str:
    return " ".join([text, *(f"{c.name} {c.arguments}" for c in calls)]).strip()


def parse_completion(response: Any, url: str, model: str, messages: list[Message]) -> Completion:
    """The first choice of a non-streamed chat-completions answer, or LLMResponseError quoting the body."""
    try:
        data = response.json()
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise TypeError(f"content is {type(text).__name__}")
        refusal = message.get("refusal") or None
        if refusal is not None and not isinstance(refusal, str):
            raise TypeError(f"refusal is {type(refusal).__name__}")
        calls = _tool_calls(message.get("tool_calls"), f"POST {url}")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
        raise LLMResponseError(
            f"POST {url} answered {response.status_code} but not in the chat-completions format "
            f"({type(exc).__name__}: {str(exc)[:200]}): {response.text[:300]!r}"
        ) from None
    text = text or refusal or ""  # a refusal is what the model said
    return Completion(
        text=text,
        refusal=refusal,
        usage=_usage(data.get("usage"), messages, _answer_text(text, calls)),
        model=str(data.get("model") or model),
        finish_reason=str(choice.get("finish_reason") or ("tool_calls" if calls else "stop")),
        raw=data,
        tool_calls=calls,
    )


class _Assembler:
    """Accumulates streamed chunks: content deltas, tool-call fragments by index, finish reason and usage."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason = ""
        self.model = ""
        self.usage: Any = None

    def chunk(self, data: dict[str, Any], url: str) -> str:
        """Fold one chunk in; returns its text delta ("" if none)."""
        self.model = str(data.get("model") or self.model)
        if data.get("usage") is not None:
            self.usage = data["usage"]
        delta_text = ""
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.text.append(content)
                delta_text += content
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:  # streamed like content: what the model says
                self.refusal.append(refusal)
                delta_text += refusal
            for fragment in delta.get("tool_calls") or ():
                slot = self.calls.setdefault(int(fragment.get("index", len(self.calls))),
                                             {"id": "", "name": "", "arguments": []})
                check_tool_call_count(len(self.calls), f"POST {url}")
                function = fragment.get("function") or {}
                call_id, name = fragment.get("id"), function.get("name")
                if name and not isinstance(name, str):  # as a whole answer's: a name is text, an id any scalar
                    raise TypeError(f"tool call name is {type(name).__name__}")
                slot["id"] = str(call_id) if call_id and isinstance(call_id, (str, int)) else slot["id"]
                slot["name"] = name or slot["name"]
                piece = _arguments(function.get("arguments"))
                slot["arguments"].append(piece)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return delta_text

    def completion(self, model: str, messages: list[Message]) -> Completion:
        refusal = "".join(self.refusal) or None
        text = "".join(self.text) or refusal or ""
        calls = tuple(
            ToolCall(slot["id"] or f"call_{index}", slot["name"], "".join(slot["arguments"]))
            for index, slot in sorted(self.calls.items())
        )
        for call in calls:
            if not call.name:
                raise LLMResponseError(f"a streamed tool call (id {call.id!r}) never named its function")
        return Completion(text=text, refusal=refusal, usage=_usage(self.usage, messages, _answer_text(text, calls)),
                          model=self.model or model,
                          finish_reason=self.finish_reason or ("tool_calls" if calls else "stop"), tool_calls=calls)


async def read_sse_completion(
    response: Any, url: str, model: str, messages: list[Message], limit: int = MAX_RESPONSE_BYTES,
    deadline: float | None = None,
) -> AsyncIterator[StreamEvent]:
    """Yield the text deltas of an SSE chat-completions stream, then the assembled :class:`Completion`.

    A delta ending in the first half of a UTF-16 surrogate pair (JSON escapes a character beyond U+FFFF as two)
    keeps that half back for the next delta, so a pair split across chunks streams as its character. More than
    ``limit`` bytes in all (a line that never ends, say) raise LLMResponseError rather than fill memory, and so does
    a stream that ends with neither ``[DONE]`` nor a finish reason (the connection was cut mid-answer: what came is
    not the whole answer). Past ``deadline`` (event-loop time) TimeoutError.
    """
    acc = _Assembler()
    held = ""  # a high surrogate that ended the last delta
    done = False
    async for line in _lines(response, url, limit, deadline):
        if not line.startswith("data:"):
            continue  # comments, event names and blank separators
        body = line[5:].strip()
        if body == "[DONE]":
            done = True
            break
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise TypeError(f"chunk is {type(data).__name__}")
            if isinstance(data.get("error"), dict):
                raise LLMResponseError(f"POST {url} streamed an error: {str(data['error'].get('message'))[:300]}")
            delta = acc.chunk(data, url)
        except (ValueError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
            raise LLMResponseError(f"POST {url} streamed a chunk not in the chat-completions format "
                                   f"({type(exc).__name__}: {str(exc)[:200]}): {body[:300]!r}") from None
        if delta:
            delta, held = held + delta, ""
            if "\ud800" <= delta[-1] <= "\udbff":
                delta, held = delta[:-1], delta[-1]
            if delta:
                yield TextDelta(delta)
    if not (done or acc.finish_reason):
        raise LLMResponseError(f"POST {url} streamed an answer that ended before the answer did (no finish reason, "
                               "no [DONE]): the connection was cut; try again")
    if held:
        yield TextDelta(held)  # never followed by its other half: U+FFFD
    yield acc.completion(model, messages)
