"""The shared chat-completions test server (tests/_support/chat_server.py) refuses what the openai types refuse, so
the tests built on it cannot pass on an off-format request."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from ._support.chat_server import ChatServer, Reply, chunk, completion, echo_answer, text_stream

USER = {"role": "user", "content": "hi"}


def post(server: ChatServer, body: Any) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30)


@pytest.mark.parametrize("body", [
    {"model": "m", "messages": [{"role": "nobody", "content": "hi"}]},
    {"messages": [USER]},
    {"model": "m", "messages": [USER, {"role": "assistant", "content": None,
                                       "tool_calls": [{"id": "c", "type": "function", "function": {"name": 3}}]}]},
    {"model": "m", "messages": [USER], "tools": [{"type": "function", "function": {"description": "no name"}}]},
    {"model": "m", "messages": [USER], "stream": True, "stream_options": {"include_usage": "yes"}},
    ["not", "an", "object"],
])
def test_off_format_requests_are_refused_and_recorded(chat_server: ChatServer, body: Any) -> None:
    answer = post(chat_server, body)
    assert answer.status_code == 400 and "off the chat-completions format" in answer.text
    assert len(chat_server.rejected) == 1 and chat_server.requests == []


def test_valid_requests_get_scripted_then_answered_replies(chat_server: ChatServer) -> None:
    chat_server.script(Reply(429, {"error": {"message": "slow"}}, {"Retry-After": "1"}), completion("first"))
    chat_server.answer = lambda body: text_stream("a", "b")
    assert post(chat_server, {"model": "m", "messages": [USER]}).headers["Retry-After"] == "1"
    assert post(chat_server, {"model": "m", "messages": [USER]}).json()["choices"][0]["message"]["content"] == "first"
    streamed = post(chat_server, {"model": "m", "messages": [USER], "stream": True,
                                  "stream_options": {"include_usage": True}})
    assert streamed.headers["Content-Type"] == "text/event-stream" and streamed.text.endswith("data: [DONE]\n\n")
    assert len(chat_server.bodies) == 3 and chat_server.prompts() == {"hi": 3}


def test_a_str_in_a_chunk_list_is_sent_as_the_chunks_raw_json(chat_server: ChatServer) -> None:
    raw = ('{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
           '"choices":[{"index":0,"delta":{"content":"\\ud83d"}}]}')
    chat_server.answer = lambda body: [chunk({"role": "assistant", "content": ""}), raw]
    streamed = post(chat_server, {"model": "m", "messages": [USER], "stream": True})
    assert streamed.headers["Content-Type"] == "text/event-stream"
    assert f"data: {raw}\n\n" in streamed.text and streamed.text.endswith("data: [DONE]\n\n")


def test_an_answer_that_raises_is_a_500_and_kept(chat_server: ChatServer) -> None:
    def answer(body: dict[str, Any]) -> Any:
        raise AssertionError("unexpected request")

    chat_server.answer = answer
    assert post(chat_server, {"model": "m", "messages": [USER]}).status_code == 500
    assert [str(e) for e in chat_server.errors] == ["unexpected request"]


def test_echo_answers_count_calls_per_prompt_and_a_delay_is_cut_short_by_stop() -> None:
    with ChatServer(echo_answer) as server:
        plain = post(server, {"model": "m", "messages": [USER]}).json()
        assert plain["choices"][0]["message"]["content"] == "re: hi" and plain["usage"]["total_tokens"] == 8
        streamed = post(server, {"model": "m", "messages": [{"role": "user", "content": "a b"}], "stream": True})
        assert "".join(line for line in streamed.text.splitlines() if '"content"' in line).count("re:") == 1
        post(server, {"model": "m", "messages": [USER]})
        assert server.calls == Counter({"hi": 2, "a b": 1}) and server.total() == 3
        server.delay = 3600.0  # held back until the server stops (the test's timeout is the hang guard)
        server.stop.set()
        assert post(server, {"model": "m", "messages": [USER]}).status_code == 200
        assert server.total() == 4 and server.lock is not None
