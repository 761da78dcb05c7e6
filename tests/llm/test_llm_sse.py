"""Tool calls and streaming over the real chat-completions wire format.

The shared ``chat_server`` fixture (``tests/_support/chat_server.py``) plays the model: it validates every request
it receives with the official ``openai`` package's request types and answers with ``openai`` response models
(``ChatCompletion``, ``ChatCompletionChunk`` over SSE), so what llmteam sends and parses is the format real servers
speak.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import TypeAdapter

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import (
    MAX_TOOL_CALLS,
    Completion,
    LLMHTTPError,
    LLMResponseError,
    Message,
    OpenAICompatible,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from llmteam.llm._sse import MAX_REPORTED_TOKENS, parse_completion
from llmteam.team import Agent, Team
from llmteam.tools import tool

from .._support.chat_server import ChatServer, Reply, chunk, completion, text_stream

MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])


def client(server: ChatServer) -> OpenAICompatible:
    return OpenAICompatible(server.base_url, model="m", max_retries=0)


SPEC = ToolSpec("lookup", "Look up an invoice.", {"type": "object", "properties": {"number": {"type": "string"}},
                                                  "required": ["number"]})


async def test_complete_sends_tools_and_parses_parallel_tool_calls(chat_server: ChatServer) -> None:
    chat_server.answer = lambda req: completion(None, [("c1", "lookup", '{"number": "A"}'),
                                                       ("c2", "lookup", '{"number":"B"}')], usage=(40, 9))
    async with client(chat_server) as llm:
        answer = await llm.complete([{"role": "user", "content": "two invoices"}], tools=[SPEC], temperature=0)
    assert answer.tool_calls == (ToolCall("c1", "lookup", '{"number": "A"}'),
                                 ToolCall("c2", "lookup", '{"number":"B"}'))
    assert answer.text == "" and answer.finish_reason == "tool_calls"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (40, 9)
    (sent,) = chat_server.bodies
    assert sent["tools"] == [SPEC.to_openai()] and sent["temperature"] == 0 and "stream" not in sent


@tool
def lookup(number: str) -> dict:
    """Look up an invoice."""
    return {"number": number, "amount": {"A": 10, "B": 32}[number]}


async def test_a_team_runs_the_whole_tool_loop_against_the_server(chat_server: ChatServer) -> None:
    def answer(req: dict[str, Any]) -> Any:
        if req["messages"][-1]["role"] != "tool":
            return completion(None, [("c1", "lookup", '{"number": "A"}'), ("c2", "lookup", '{"number": "B"}')])
        results = [json.loads(m["content"])["amount"] for m in req["messages"] if m["role"] == "tool"]
        return completion(f"Total {sum(results)}", usage=(60, 3))

    chat_server.answer = answer
    llm = client(chat_server)
    team = Team("billing", agents=[Agent("clerk", prompt="Sum invoices A and B for {who}", llm=llm, tools=[lookup])])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"who": "Ann"})
    await llm.aclose()
    assert result.output == "Total 42"
    assert result.usage.requests == 2 and result.usage.tool_calls == 2
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11 + 60, 5 + 3)
    second = chat_server.bodies[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert second[1]["content"] is None and [c["id"] for c in second[1]["tool_calls"]] == ["c1", "c2"]
    assert [m["tool_call_id"] for m in second[2:]] == ["c1", "c2"]
    assert [c.decision for c in result.steps[0].tool_calls] == ["allow", "allow"]


@pytest.mark.parametrize("arguments_json", [r'"{\"number\": \"A\\ud800\"}"', r'"{\"number\": \"A\ud800\"}"'],
                         ids=["escape-in-the-arguments", "lone-surrogate-in-the-arguments"])
async def test_tool_arguments_that_are_not_text_are_refused_and_the_loop_goes_on(chat_server: ChatServer,
                                                                                arguments_json: str) -> None:
    """A server's tool call whose arguments hold a lone surrogate, either way JSON can carry one: the call is
    refused as invalid arguments and audited, the model is told, and the exchange goes back to it as it came."""
    call = ('{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":'
            '{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":'
            f'{{"name":"lookup","arguments":{arguments_json}}}}}]}},"finish_reason":"tool_calls"}}]}}')
    chat_server.answer = lambda req: Reply(body=call) if req["messages"][-1]["role"] != "tool" else completion("ok")
    llm = client(chat_server)
    team = Team("billing", agents=[Agent("clerk", prompt="Find {q}", llm=llm, tools=[lookup])])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"q": "A"})
        assert (await rt.verify_audit())[0]
    await llm.aclose()
    (decided,) = result.steps[0].tool_calls
    assert decided.decision == "invalid_arguments" and not decided.executed and "surrogate" in (decided.error or "")
    assert result.output == "ok" and chat_server.rejected == []
    sent_back = chat_server.bodies[1]["messages"]
    assert sent_back[1]["tool_calls"][0]["function"]["arguments"] == json.loads(arguments_json)  # the text as sent
    assert "surrogate" in sent_back[2]["content"]


async def test_stream_yields_deltas_then_a_completion_with_exact_usage(chat_server: ChatServer) -> None:
    chat_server.answer = lambda req: text_stream("Hel", "lo ", "world")
    async with client(chat_server) as llm:
        events = [e async for e in llm.stream([{"role": "user", "content": "hi"}])]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo ", "world"]
    final = events[-1]
    assert isinstance(final, Completion) and final.text == "Hello world" and final.model == "served-model"
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (12, 4)
    (sent,) = chat_server.bodies
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def _raw_chunk(content_json: str) -> str:
    """A streamed chunk's JSON text whose content is ``content_json`` (a JSON string literal, escapes as written)."""
    return ('{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
            f'"delta":{{"content":{content_json}}},"finish_reason":null}}]}}')


async def test_answers_with_lone_surrogate_escapes_become_valid_text(chat_server: ChatServer) -> None:
    """JSON may escape UTF-16 surrogates that are no character: the answer still arrives as valid Unicode text."""
    body = ('{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":'
            '{"role":"assistant","content":"bad \\ud800 end \\ud83d\\ude00"},"finish_reason":"stop"}]}')
    chat_server.answer = lambda req: Reply(body=body)
    async with client(chat_server) as llm:
        answer = await llm.complete([{"role": "user", "content": "hi"}])
    assert answer.text == "bad \ufffd end \U0001f600"
    answer.text.encode("utf-8")


async def test_a_surrogate_pair_split_across_streamed_chunks_is_joined(chat_server: ChatServer) -> None:
    chat_server.answer = lambda req: [chunk({"role": "assistant", "content": ""}), _raw_chunk('"smile \\ud83d"'),
                                      _raw_chunk('"\\ude00 ok"'), _raw_chunk('"tail \\ud800"'),
                                      chunk({}, "stop"), chunk(None, usage=(3, 4))]
    async with client(chat_server) as llm:
        events = [e async for e in llm.stream([{"role": "user", "content": "hi"}])]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(deltas) == "smile \U0001f600 ok" + "tail \ufffd"  # the pair joined, the lone one replaced
    assert all("\ufffd" not in d for d in deltas[:-1])
    final = events[-1]
    assert isinstance(final, Completion) and final.text == "".join(deltas)


async def test_a_stream_past_max_response_bytes_is_refused_not_buffered(chat_server: ChatServer) -> None:
    """A line that never ends (here 2 MB in one ``data:`` line) cannot grow the client's buffer without bound."""
    chat_server.answer = lambda req: [chunk({"role": "assistant", "content": ""}), "x" * 2_000_000]
    events: list[Any] = []
    async with OpenAICompatible(chat_server.base_url, model="m", max_retries=0, max_response_bytes=1_000_000) as llm:
        with pytest.raises(LLMResponseError, match="answered more than 1,000,000 bytes"):
            async for event in llm.stream([{"role": "user", "content": "hi"}]):
                events.append(event)
    assert events == []


async def test_a_long_stream_is_bounded_by_bytes_alone_as_a_whole_answer_is(chat_server: ChatServer) -> None:
    """A 9,000,000-character answer (inside the default 32 MiB) used to fail streamed, at a second bound of
    8,000,000 characters that a whole answer of the same size never met and ``max_response_bytes`` did not move."""
    pieces = ["y" * 100_000] * 90
    chat_server.answer = lambda req: text_stream(*pieces)
    async with client(chat_server) as llm:
        events = [e async for e in llm.stream([{"role": "user", "content": "long"}])]
    final = events[-1]
    assert isinstance(final, Completion) and len(final.text) == 9_000_000
    assert sum(len(e.text) for e in events if isinstance(e, TextDelta)) == 9_000_000


def _lookups(n: int) -> list[tuple[str, str, str]]:
    return [(f"c{i}", "lookup", f'{{"number": "{i}"}}') for i in range(n)]


async def test_an_answer_asking_for_more_than_max_tool_calls_is_refused_whole(chat_server: ChatServer) -> None:
    """An attacker's move: one answer asking for 5,000 tool calls (~300 KB, far inside the byte bound) would be
    governed call by call (5,000 refusals, audit records and tool messages). It is refused whole, read whole or
    streamed, before the calls are built; MAX_TOOL_CALLS of them still parse."""
    chat_server.script(completion(None, _lookups(5_000)), completion(None, _lookups(MAX_TOOL_CALLS)))
    ask: list[Message] = [{"role": "user", "content": "invoices"}]
    async with client(chat_server) as llm:
        with pytest.raises(LLMResponseError, match=f"5,000 tool calls in one answer; at most {MAX_TOOL_CALLS}"):
            await llm.complete(ask, tools=[SPEC])
        assert len((await llm.complete(ask, tools=[SPEC])).tool_calls) == MAX_TOOL_CALLS
    assert len(chat_server.requests) == 2  # not retried: the same answer would come again
    fragments = [chunk({"tool_calls": [{"index": i, "id": f"c{i}", "type": "function",
                                        "function": {"name": "lookup", "arguments": "{}"}}]}) for i in range(5_000)]
    chat_server.answer = lambda req: [chunk({"role": "assistant", "content": ""}), *fragments, chunk({}, "tool_calls")]
    async with client(chat_server) as llm:
        with pytest.raises(LLMResponseError, match=f"asked for {MAX_TOOL_CALLS + 1} tool calls in one answer"):
            async for _ in llm.stream(ask, tools=[SPEC]):
                pass


async def test_a_refusal_is_read_whole_or_streamed(chat_server: ChatServer) -> None:
    """``message.refusal`` (and ``delta.refusal``): kept as the completion's refusal, and what the model said."""
    said = "I'm sorry, I can't help with that."
    refused = completion(None).model_dump()
    refused["choices"][0]["message"]["refusal"] = said
    chat_server.script(ChatCompletion.model_validate(refused))
    chat_server.answer = lambda req: [chunk({"role": "assistant", "refusal": ""}), chunk({"refusal": "I'm sorry, "}),
                                      chunk({"refusal": "I can't help with that."}), chunk({}, "stop"),
                                      chunk(None, usage=(3, 9))]
    async with client(chat_server) as llm:
        whole = await llm.complete([{"role": "user", "content": "hi"}])
        events = [e async for e in llm.stream([{"role": "user", "content": "hi"}])]
    assert (whole.refusal, whole.text) == (said, said)
    final = events[-1]
    assert isinstance(final, Completion) and (final.refusal, final.text) == (said, said)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == said


async def test_streamed_tool_call_fragments_are_assembled(chat_server: ChatServer) -> None:
    frags = [
        chunk({"role": "assistant", "tool_calls": [
            {"index": 0, "id": "c1", "type": "function", "function": {"name": "lookup", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"numb'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "c2", "type": "function",
                               "function": {"name": "lookup", "arguments": '{"number": "B"}'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'er": "A"}'}}]}),
        chunk({}, "tool_calls"), chunk(None, usage=(30, 8)),
    ]
    chat_server.answer = lambda req: frags
    async with client(chat_server) as llm:
        events = [e async for e in llm.stream([{"role": "user", "content": "x"}], tools=[SPEC])]
    (final,) = events
    assert isinstance(final, Completion)
    assert final.tool_calls == (ToolCall("c1", "lookup", '{"number": "A"}'),
                                ToolCall("c2", "lookup", '{"number": "B"}'))
    assert final.finish_reason == "tool_calls" and final.usage.completion_tokens == 8


async def test_rt_stream_publishes_tokens_and_tool_events_live(chat_server: ChatServer) -> None:
    def answer(req: dict[str, Any]) -> Any:
        if req["messages"][-1]["role"] != "tool":
            return [chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                           "function": {"name": "lookup", "arguments": '{"number": "B"}'}}]}),
                    chunk({}, "tool_calls"), chunk(None, usage=(9, 2))]
        return text_stream("It is ", "32.")

    chat_server.answer = answer
    llm = client(chat_server)
    team = Team("billing", agents=[Agent("clerk", prompt="Amount of B for {who}?", llm=llm, tools=[lookup])])
    async with team.runtime("memory://", tenant="acme") as rt:
        events = [e async for e in rt.stream({"who": "Ann"})]
    await llm.aclose()
    kinds = [e.kind for e in events]
    assert kinds == ["step_started", "tool_requested", "tool_decided", "tool_finished", "token", "token",
                     "step_finished", "run_finished"]
    assert "".join(e.data["text"] for e in events if e.kind == "token") == "It is 32."
    final = events[-1].result
    assert final is not None and final.output == "It is 32."
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (9 + 12, 2 + 4)


async def test_a_streamed_tool_call_with_a_number_for_an_id_runs_once_and_is_audited(chat_server: ChatServer) -> None:
    # review, 2026-11-29: "id": 7 ran the tool, then the run failed with a TypeError where the call was audited
    ran: list[str] = []

    @tool
    async def note(text: str) -> str:
        """Note a line."""
        ran.append(text)
        return "noted"

    def answer(req: dict[str, Any]) -> Any:
        if req["messages"][-1]["role"] != "tool":
            return [_delta_chunk('{"tool_calls":[{"index":0,"id":7,"type":"function",'
                               '"function":{"name":"note","arguments":"{\\"text\\": \\"hi\\"}"}}]}')]
        return text_stream("done")

    chat_server.answer = answer
    llm = client(chat_server)
    team = Team("notes", agents=[Agent("clerk", prompt="Note for {who}", llm=llm, tools=[note])])
    async with team.runtime("memory://", tenant="acme") as rt:
        events = [e async for e in rt.stream({"who": "Ann"})]
        async with rt.tenants.context("acme"):
            records = await rt.audit.query(AuditQuery(resource_type="tool"))
    await llm.aclose()
    assert events[-1].result is not None and events[-1].result.output == "done" and ran == ["hi"]
    assert [(r.event_type, r.step_name) for r in records] == [(AuditEventType.ACTION_COMPLETED, "7")]


@pytest.mark.parametrize("reply, fragment", [
    (Reply(500, '{"error": {"message": "boom"}}'), "HTTP 500"),
    (Reply(404, '{"error": "no model"}'), "HTTP 404"),
])
async def test_stream_http_errors_are_raised_before_any_event(chat_server: ChatServer, reply: Reply,
                                                               fragment: str) -> None:
    chat_server.answer = lambda req: reply
    async with client(chat_server) as llm:
        with pytest.raises(LLMHTTPError, match=fragment):
            async for _ in llm.stream([{"role": "user", "content": "x"}]):
                pass


class _Lines:
    """A streamed body delivered in the given byte chunks (or lines, each sent with its blank separator line)."""

    def __init__(self, lines: list[str] | None = None, *, chunks: list[bytes] | None = None) -> None:
        self.chunks = chunks if chunks is not None else [f"{line}\n\n".encode() for line in lines or ()]

    async def aiter_bytes(self) -> Any:
        for piece in self.chunks:
            yield piece


async def test_malformed_stream_chunks_raise_response_errors() -> None:
    from llmteam.llm._sse import read_sse_completion

    for lines, fragment in ([["data: {not json"], "not in the chat-completions format"],
                            [['data: {"error": {"message": "overloaded"}}'], "streamed an error: overloaded"],
                            [['data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {}}]}}]}',
                              "data: [DONE]"], "never named its function"]):
        with pytest.raises(LLMResponseError, match=fragment):
            async for _ in read_sse_completion(_Lines(lines), "u", "m", [{"role": "user", "content": "x"}]):
                pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                        max_size=20), min_size=1, max_size=8),
       st.lists(st.integers(min_value=1, max_value=7), max_size=30))
def test_stream_lines_survive_any_chunking(lines: list[str], cuts: list[int]) -> None:
    """However the bytes are cut (inside a UTF-8 character too), the lines come back as sent."""
    from llmteam.llm._sse import _lines

    data = "\n".join(lines).encode()
    chunks, at = [], 0
    for cut in cuts:
        chunks.append(data[at:at + cut])
        at += cut
    chunks.append(data[at:])

    async def collect() -> list[str]:
        return [line async for line in _lines(_Lines(chunks=chunks), "u", 10**6)]

    got = asyncio.run(collect())
    assert got == (lines if lines[-1] else lines[:-1])  # a body ending in a line break ends no further line


async def test_stream_lines_end_at_cr_lf_and_crlf_and_are_bounded() -> None:
    from llmteam.llm._sse import _lines

    body = _Lines(chunks=[b"a\r\nb\rc\nd"])
    assert [line async for line in _lines(body, "u", 100)] == ["a", "b", "c", "d"]
    with pytest.raises(LLMResponseError, match="answered more than 10 bytes"):
        async for _ in _lines(_Lines(chunks=[b"data: 123", b"45678 and on"]), "u", 10):
            pass


class _FakeResponse:
    status_code = 200

    def __init__(self, data: object) -> None:
        self._data = data
        self.text = json.dumps(data)

    def json(self) -> object:
        return self._data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**8) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries({"choices": st.lists(
    st.fixed_dictionaries({"message": st.dictionaries(
        st.sampled_from(["content", "role", "tool_calls"]), json_values)}),
    max_size=2)}, optional={"usage": json_values, "model": json_values})))
def test_any_2xx_body_parses_or_raises_response_error(body: object) -> None:
    try:
        completion = parse_completion(_FakeResponse(body), "http://127.0.0.1:1/v1/chat/completions", "m",
                                      [{"role": "user", "content": "a b"}])
    except LLMResponseError as exc:
        assert "chat-completions format" in str(exc)
        return
    assert isinstance(completion.text, str) and isinstance(completion.model, str)
    assert 0 <= completion.usage.prompt_tokens <= MAX_REPORTED_TOKENS
    assert 0 <= completion.usage.completion_tokens <= MAX_REPORTED_TOKENS


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.sampled_from(["lookup", "x_y", "t-1"]),
                          st.text(max_size=30)), max_size=4))
def test_any_well_formed_tool_call_list_round_trips(calls: list[tuple[str, str, str]]) -> None:
    data = completion(None, calls).model_dump()
    parsed = parse_completion(_FakeResponse(data), "u", "m", [{"role": "user", "content": "x"}])
    assert parsed.tool_calls == tuple(ToolCall(i, n, a) for i, n, a in calls)
    # what we send back for them is valid wire format too
    MESSAGES.validate_python([{"role": "user", "content": "x"}, parsed.to_message()] if calls else
                             [{"role": "user", "content": "x"}])


# -- a hostile model server (review, 2026-11-29): each answer failed with a raw, non-LLMError exception before ------
def _delta_chunk(delta: str) -> str:
    return '{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":' + \
        delta + ',"finish_reason":null}]}'


@pytest.mark.parametrize("call_id", ["7", '{"x": 1}'])
async def test_a_streamed_tool_call_id_that_is_not_text_becomes_text(chat_server: ChatServer, call_id: str) -> None:
    chat_server.answer = lambda req: [_delta_chunk('{"tool_calls":[{"index":0,"id":' + call_id + ',"type":"function",'
                                                 '"function":{"name":"lookup","arguments":"{}"}}]}')]
    async with client(chat_server) as llm:
        (final,) = [e async for e in llm.stream([{"role": "user", "content": "x"}], tools=[SPEC])]
    (call,) = final.tool_calls
    assert type(call.id) is str and call.name == "lookup"


async def test_a_streamed_tool_call_name_that_is_not_text_is_refused(chat_server: ChatServer) -> None:
    chat_server.answer = lambda req: [_delta_chunk('{"tool_calls":[{"index":0,"id":"c","type":"function",'
                                                 '"function":{"name":["lookup"],"arguments":"{}"}}]}')]
    async with client(chat_server) as llm:
        with pytest.raises(LLMResponseError, match="tool call name is list"):
            [e async for e in llm.stream([{"role": "user", "content": "x"}], tools=[SPEC])]


_DEEP = "[" * 200_000 + "]" * 200_000
_WHOLE = '{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":%s,' \
    '"finish_reason":"stop"}]}'


@pytest.mark.parametrize("answer, fragment", [
    ([_delta_chunk('{"content":' + _DEEP + "}")], "RecursionError"),
    ([_delta_chunk('{"tool_calls":[{"index":1e999,"id":"c","type":"function",'
                 '"function":{"name":"lookup","arguments":"{}"}}]}')], "OverflowError"),
    (Reply(body=_WHOLE % ('{"role":"assistant","content":' + _DEEP + "}")), "RecursionError"),
], ids=["streamed-deep", "streamed-index-1e999", "whole-deep"])
async def test_an_answer_too_deep_or_with_an_infinite_index_is_an_llm_error(
    chat_server: ChatServer, answer: Any, fragment: str,
) -> None:
    chat_server.answer = lambda req: answer
    async with client(chat_server) as llm:
        with pytest.raises(LLMResponseError, match=fragment):
            if isinstance(answer, list):
                [e async for e in llm.stream([{"role": "user", "content": "x"}], tools=[SPEC])]
            else:
                await llm.complete([{"role": "user", "content": "x"}], tools=[SPEC])


def test_a_tool_call_of_anything_but_text_is_refused_where_it_is_made() -> None:
    for bad in ({"id": 7}, {"name": ["lookup"]}, {"arguments": {"number": "A"}}):
        fields = {"id": "c", "name": "lookup", "arguments": "{}", **bad}
        with pytest.raises(TypeError, match=f"ToolCall {next(iter(bad))}="):
            ToolCall(**fields)
    assert ToolCall("c", "lookup", "{}") == ToolCall.of("lookup", "{}", id="c")


def _content(text: str, finish: str | None = None) -> str:
    return "data: " + chunk({"content": text}, finish).model_dump_json(exclude_unset=True)


async def test_a_stream_cut_before_the_answer_finished_is_an_error_not_a_shorter_answer() -> None:
    from llmteam.llm._sse import read_sse_completion

    async def read(lines: list[str]) -> Completion:
        events = [e async for e in read_sse_completion(_Lines(lines), "u", "m", [{"role": "user", "content": "x"}])]
        assert isinstance(events[-1], Completion)
        return events[-1]

    with pytest.raises(LLMResponseError, match="ended before the answer did"):
        await read([_content("Refund appro")])  # the connection closed mid-answer: no finish reason, no [DONE]
    assert (await read([_content("Refund approved", "stop")])).text == "Refund approved"  # finished; [DONE] omitted
    assert (await read([_content("Refund approved"), "data: [DONE]"])).text == "Refund approved"  # the server's end


async def test_a_real_stream_cut_mid_answer_fails_the_call(chat_server: ChatServer) -> None:
    cut = f"{_content('Refund appro')}\n\n".encode()  # then the server closes: Content-Length reached
    chat_server.script(Reply(body=cut, headers={"Content-Type": "text/event-stream"}))
    async with client(chat_server) as llm:
        with pytest.raises(LLMResponseError, match=r"POST http://127\.0\.0\.1:\d+/v1/chat/completions streamed"):
            async for _ in llm.stream([{"role": "user", "content": "x"}]):
                pass
