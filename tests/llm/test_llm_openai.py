"""OpenAICompatible against a real HTTP server on 127.0.0.1 speaking the chat-completions wire format."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from llmteam.llm import (
    LLMConfigError,
    LLMConnectionError,
    LLMHTTPError,
    LLMProvider,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
    OpenAICompatible,
)

from .._support.chat_server import ChatServer, Reply, completion


def ok(text: str, prompt_tokens: int | None = 7, completion_tokens: int = 3, model: str = "m") -> ChatCompletion:
    return completion(text, usage=None if prompt_tokens is None else (prompt_tokens, completion_tokens), model=model)


def make(server: ChatServer, **kw: object) -> OpenAICompatible:
    opts: dict[str, object] = {"model": "test-model", "backoff_base": 0.01, "backoff_max": 0.05}
    opts.update(kw)
    return OpenAICompatible(server.base_url, **opts)  # type: ignore[arg-type]


async def test_complete_sends_wire_format_and_reads_usage(chat_server: ChatServer) -> None:
    chat_server.script(ok("hello there", 11, 2, model="served-model"))
    llm = make(chat_server, api_key="sk-secret", default_options={"temperature": 0.1})
    async with llm:
        result = await llm.complete([{"role": "user", "content": "hi"}], max_tokens=5)
    assert result.text == "hello there"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (11, 2, 13)
    assert result.model == "served-model" and result.finish_reason == "stop"
    req = chat_server.requests[0]
    assert req.path == "/v1/chat/completions"
    assert req.body == {"model": "test-model", "temperature": 0.1, "max_tokens": 5,
                           "messages": [{"role": "user", "content": "hi"}]}
    assert req.headers["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in repr(llm)
    assert isinstance(llm, LLMProvider)


@pytest.mark.parametrize("content", ["plain ä漢字🙂", "a lone \udc80 surrogate", "tool said \ud800 ä"],
                         ids=["unicode", "lone-surrogate", "lone-and-unicode"])
async def test_any_message_text_reaches_the_server_as_sent(chat_server: ChatServer, content: str) -> None:
    """A message holding a lone surrogate (a user's input, a model's arguments sent back) used to fail the call with
    httpx's UnicodeEncodeError; it now goes as JSON escapes, and valid text still goes as UTF-8."""
    chat_server.script(ok("fine"))
    async with make(chat_server) as llm:
        assert (await llm.complete([{"role": "user", "content": content}])).text == "fine"
    (req,) = chat_server.requests
    assert req.body["messages"] == [{"role": "user", "content": content}]
    assert req.headers["Content-Type"] == "application/json"
    compact = json.dumps(req.body, ensure_ascii=False, separators=(",", ":"))
    if "\udc80" not in content and "\ud800" not in content:
        assert int(req.headers["Content-Length"]) == len(compact.encode("utf-8"))  # UTF-8, not escapes


async def test_generate_returns_text(chat_server: ChatServer) -> None:
    chat_server.script(ok("route"))
    async with make(chat_server) as llm:
        assert await llm.generate("which agent?") == "route"
    assert chat_server.requests[0].body["messages"] == [{"role": "user", "content": "which agent?"}]


async def test_missing_usage_is_estimated(chat_server: ChatServer) -> None:
    chat_server.script(ok("two words", prompt_tokens=None))
    async with make(chat_server) as llm:
        result = await llm.complete([{"role": "user", "content": "a b c"}])
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (3, 2)


async def test_429_with_retry_after_is_honoured(chat_server: ChatServer) -> None:
    chat_server.script(Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.3"}), ok("done"))
    async with make(chat_server, max_retries=2) as llm:
        assert await llm.generate("x") == "done"
    first, second = chat_server.requests
    assert second.time - first.time >= 0.28


async def test_retry_after_http_date(chat_server: ChatServer) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=1), usegmt=True)
    chat_server.script(Reply(429, {"error": "busy"}, {"Retry-After": when}), ok("done"))
    async with make(chat_server, max_retries=1) as llm:
        assert await llm.generate("x") == "done"
    assert len(chat_server.requests) == 2


async def test_429_retry_after_too_long_fails_fast(chat_server: ChatServer) -> None:
    chat_server.script(Reply(429, {"error": {"message": "quota"}}, {"Retry-After": "3600"}))
    async with make(chat_server, max_retries=3, max_retry_after=5) as llm:
        start = time.monotonic()
        with pytest.raises(LLMRateLimitError) as info:
            await llm.generate("x")
    assert time.monotonic() - start < 600  # a hang guard, not a timing check: obeying it would have taken an hour
    assert info.value.status == 429 and info.value.retry_after == 3600
    assert "429" in str(info.value) and chat_server.base_url in str(info.value) and "quota" in str(info.value)
    assert len(chat_server.requests) == 1


async def test_500_is_retried_then_succeeds(chat_server: ChatServer) -> None:
    chat_server.script(Reply(500, {"error": {"message": "boom"}}), Reply(503, "oops"), ok("fine"))
    async with make(chat_server, max_retries=3) as llm:
        assert await llm.generate("x") == "fine"
    assert len(chat_server.requests) == 3


async def test_500_exhausts_retries_with_clear_error(chat_server: ChatServer) -> None:
    chat_server.script(*[Reply(500, {"error": {"message": "model crashed"}})] * 3)
    async with make(chat_server, max_retries=2) as llm:
        with pytest.raises(LLMHTTPError) as info:
            await llm.generate("x")
    err = info.value
    assert err.status == 500 and err.url == f"{chat_server.base_url}/chat/completions"
    assert "HTTP 500" in str(err) and "model crashed" in str(err) and "3 attempts" in str(err)
    assert len(chat_server.requests) == 3


@pytest.mark.parametrize(("status", "hint"), [(401, "API key"), (404, "base_url"), (400, "rejected")])
async def test_4xx_fails_at_once_with_hint(chat_server: ChatServer, status: int, hint: str) -> None:
    chat_server.script(Reply(status, {"error": {"message": "nope"}}))
    async with make(chat_server, max_retries=3) as llm:
        with pytest.raises(LLMHTTPError) as info:
            await llm.generate("x")
    assert info.value.status == status and f"HTTP {status}" in str(info.value) and hint in str(info.value)
    assert len(chat_server.requests) == 1


async def test_slow_answer_times_out_then_retry_succeeds(chat_server: ChatServer) -> None:
    chat_server.script(Reply(200, ok("late"), delay=1.0), ok("quick"))
    async with make(chat_server, timeout=0.2, max_retries=1) as llm:
        assert await llm.generate("x") == "quick"


async def test_slow_answer_times_out(chat_server: ChatServer) -> None:
    chat_server.script(*[Reply(200, ok("late"), delay=1.0)] * 2)
    async with make(chat_server, timeout=0.2, max_retries=1) as llm:
        with pytest.raises(LLMTimeoutError) as info:  # without the timeout it would return the late answer
            await llm.generate("x")
    assert "timed out after 0.2s" in str(info.value) and chat_server.base_url in str(info.value)
    assert len(chat_server.requests) == 2  # the first attempt and its one retry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_endpoint() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    async with OpenAICompatible(url, model="m", max_retries=1, backoff_base=0.01) as llm:
        with pytest.raises(LLMConnectionError) as info:
            await llm.generate("x")
    assert url in str(info.value) and "server running" in str(info.value)
    assert isinstance(info.value, ConnectionError)


@pytest.mark.parametrize("body", ["not json", {"choices": []}, {"nothing": 1}])
async def test_malformed_response(chat_server: ChatServer, body: object) -> None:
    chat_server.script(Reply(200, body))
    async with make(chat_server) as llm:
        with pytest.raises(LLMResponseError, match="chat-completions format"):
            await llm.generate("x")


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_BASE_URL", "http://example.invalid/v1/")
    monkeypatch.setenv("LLMTEAM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    llm = OpenAICompatible()
    assert llm.url == "http://example.invalid/v1/chat/completions" and llm.model == "env-model"
    assert "sk-env" not in repr(llm)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "base_url"),
        ({"base_url": "ftp://x/v1", "model": "m"}, "ftp://x/v1"),
        ({"base_url": "http://x/v1"}, "model"),
        ({"base_url": "http://x/v1", "model": "m", "timeout": 0}, "timeout=0"),
        ({"base_url": "http://x/v1", "model": "m", "timeout": float("nan")}, "timeout=nan"),
        ({"base_url": "http://x/v1", "model": "m", "connect_timeout": True}, "connect_timeout=True"),
        ({"base_url": "http://x/v1", "model": "m", "max_retries": -1}, "max_retries=-1"),
        ({"base_url": "http://x/v1", "model": "m", "default_options": {"stream": True}}, "stream"),
        ({"base_url": "http://x/v1", "model": "m", "max_response_bytes": 0}, "max_response_bytes=0"),
    ],
)
def test_bad_config(monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], match: str) -> None:
    for name in ("LLMTEAM_BASE_URL", "OPENAI_BASE_URL", "LLMTEAM_MODEL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LLMConfigError, match=match):
        OpenAICompatible(**kwargs)  # type: ignore[arg-type]


async def test_an_answer_past_max_response_bytes_is_refused_not_buffered(chat_server: ChatServer) -> None:
    """A hostile or broken server cannot make the client buffer an answer without bound."""
    big = b'{"choices": [{"message": {"content": "' + b"x" * 2_000_000 + b'"}}]}'
    chat_server.script(Reply(body=big), Reply(body=big))
    async with make(chat_server, max_response_bytes=1_000_000) as llm:
        with pytest.raises(LLMResponseError, match="answered more than 1,000,000 bytes"):
            await llm.complete([{"role": "user", "content": "x"}])
    assert len(chat_server.requests) == 1  # not retried: the same answer would come again


async def test_a_compressed_answer_is_bounded_once_decompressed(chat_server: ChatServer) -> None:
    """A gzip bomb: 40 MiB of spaces in ~40 KiB on the wire, past the default bound of 32 MiB once inflated."""
    bomb = gzip.compress(b" " * (40 * 2**20))
    assert len(bomb) < 100_000
    chat_server.script(Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    async with make(chat_server) as llm:
        with pytest.raises(LLMResponseError, match="answered more than 33,554,432 bytes"):
            await llm.complete([{"role": "user", "content": "x"}])


async def test_an_error_answer_is_read_only_as_far_as_its_message(chat_server: ChatServer) -> None:
    chat_server.script(Reply(400, b'{"error": {"message": "unknown model"}}' + b" " * 5_000_000))
    async with make(chat_server) as llm:
        with pytest.raises(LLMHTTPError, match="HTTP 400: unknown model") as err:
            await llm.complete([{"role": "user", "content": "x"}])
    assert len(err.value.body) <= 2_000


async def test_bad_messages_rejected(chat_server: ChatServer) -> None:
    async with make(chat_server) as llm:
        with pytest.raises(ValueError, match="messages"):
            await llm.complete([])
        with pytest.raises(ValueError, match=r"messages\[0\]"):
            await llm.complete([{"role": "user"}])  # type: ignore[list-item]
        with pytest.raises(LLMConfigError, match="stream"):
            await llm.complete([{"role": "user", "content": "x"}], stream=True)
    assert chat_server.requests == []


def test_constructor_needs_no_loop_and_no_httpx() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from llmteam.llm import OpenAICompatible, ScriptedLLM;"
        "OpenAICompatible('http://x/v1', model='m'); ScriptedLLM();"
        "print([m for m in ('httpx', 'asyncpg', 'redis', 'cryptography') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_body_that_is_not_the_gzip_it_claims_is_an_llm_error(chat_server: ChatServer,
                                                                     streamed: bool) -> None:
    # review, 2026-11-29: httpx.DecodingError reached the caller raw, in both modes
    from .._support.chat_server import chunk

    body = [chunk({"content": "hi"})] if streamed else completion("hi")
    chat_server.script(Reply(body=body, headers={"Content-Encoding": "gzip"}))
    async with make(chat_server, max_retries=0) as llm:
        with pytest.raises(LLMResponseError, match="cannot be decoded as its Content-Encoding says"):
            if streamed:
                [e async for e in llm.stream([{"role": "user", "content": "x"}])]
            else:
                await llm.complete([{"role": "user", "content": "x"}])
    assert chat_server.total() == 1  # not asked again: the answer itself is broken


class _Trickler:
    """A real HTTP server that answers 200 and then sends one harmless byte every 50 ms, never finishing: each
    read arrives well within any read timeout, so only a bound on the whole call ends it."""

    def __init__(self, streamed: bool) -> None:
        self.streamed = streamed
        self.server: asyncio.AbstractServer | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            kind = b"text/event-stream" if self.streamed else b"application/json"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Length: 1000000\r\n\r\n")
            while True:
                writer.write(b":\n" if self.streamed else b" ")  # an SSE comment line / JSON whitespace
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.mark.parametrize("streamed", [False, True])
async def test_an_answer_trickled_forever_ends_at_total_timeout(streamed: bool) -> None:
    async with _Trickler(streamed) as url:
        llm = OpenAICompatible(url, model="m", timeout=5, max_retries=0, total_timeout=0.5)
        try:
            with pytest.raises(LLMTimeoutError, match=r"took more than total_timeout=0\.5s in all"):
                if streamed:  # the outer bound only keeps a regression from hanging the suite
                    await asyncio.wait_for(_drain(llm.stream([{"role": "user", "content": "x"}])), 60)
                else:
                    await asyncio.wait_for(llm.complete([{"role": "user", "content": "x"}]), 60)
        finally:
            await llm.aclose()


async def _drain(events: Any) -> None:
    async for _ in events:
        pass


@pytest.mark.parametrize("bad", [0, -1, "10", float("nan"), True])
def test_total_timeout_must_be_positive_seconds_or_none(bad: object) -> None:
    with pytest.raises(LLMConfigError, match="total_timeout="):
        OpenAICompatible("http://127.0.0.1:1/v1", model="m", total_timeout=bad)  # type: ignore[arg-type]
    assert OpenAICompatible("http://127.0.0.1:1/v1", model="m", total_timeout=None).total_timeout is None
