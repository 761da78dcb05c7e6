"""Telemetry: GenAI-convention spans and metrics of real team runs, read back from the SDK's in-memory exporters."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llmteam.llm import Completion, ScriptedLLM
from llmteam.observability import Telemetry
from llmteam.team import Agent, Team

SECRET_QUERY = "my card number is 4111-1111"


class Otel:
    def __init__(self, capture_content: bool = False) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.telemetry = Telemetry(tracer_provider=tracer_provider,
                                   meter_provider=MeterProvider(metric_readers=[self.reader]),
                                   capture_content=capture_content)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def by_name(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def histogram(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        points = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


def team(llm: Any = None) -> Team:
    llm = llm or ScriptedLLM({"classify": "billing", "reply": "We will fix your invoice."})
    return Team("support", agents=[Agent("triage", prompt="Classify: {query}"),
                                   Agent("answer", prompt="Reply to {query} as {triage}")], llm=llm)


async def run_team(otel: Otel, t: Team | None = None) -> Any:
    async with (t or team()).runtime("memory://", tenant="acme", telemetry=otel.telemetry) as rt:
        return await rt.run({"query": SECRET_QUERY})


async def test_a_run_is_a_workflow_span_with_agent_and_chat_spans_nested() -> None:
    otel = Otel()
    result = await run_team(otel)
    [workflow] = otel.by_name("invoke_workflow support")
    agents = otel.by_name("invoke_agent triage") + otel.by_name("invoke_agent answer")
    chats = otel.by_name("chat scripted")
    assert len(agents) == 2 and len(chats) == 2
    assert workflow.parent is None
    for agent_span in agents:
        assert agent_span.parent.span_id == workflow.context.span_id
    assert {c.parent.span_id for c in chats} == {a.context.span_id for a in agents}
    assert workflow.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert workflow.attributes["gen_ai.workflow.name"] == "support"
    for span in otel.finished():
        assert span.attributes["llmteam.tenant.id"] == "acme"
        assert span.attributes["llmteam.run.id"] == result.run_id
        assert span.attributes["gen_ai.conversation.id"] == result.run_id
        assert span.status.status_code != StatusCode.ERROR
    triage = otel.by_name("invoke_agent triage")[0]
    assert triage.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert triage.attributes["gen_ai.agent.name"] == "triage"
    assert triage.attributes["llmteam.step"] == 1


async def test_chat_spans_carry_model_usage_and_finish_reason() -> None:
    otel = Otel()
    result = await run_team(otel)
    chats = sorted(otel.by_name("chat scripted"), key=lambda s: s.start_time)
    for chat, step in zip(chats, result.steps):
        a = chat.attributes
        assert chat.kind == SpanKind.CLIENT
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "llmteam.scripted"
        assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == "scripted"
        assert a["gen_ai.usage.input_tokens"] == step.usage.prompt_tokens
        assert a["gen_ai.usage.output_tokens"] == step.usage.completion_tokens
        assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)


async def test_no_prompt_output_or_argument_is_recorded_by_default() -> None:
    otel = Otel()
    await run_team(otel)
    with otel.telemetry.tool("lookup", "call_1", {"card": SECRET_QUERY}) as span:
        span.set_result({"card": SECRET_QUERY})
    for span in otel.finished():
        for key, value in span.attributes.items():
            assert "messages" not in key and "arguments" not in key and "result" not in key, key
            assert "4111" not in str(value) and "invoice" not in str(value), (span.name, key)


async def test_content_capture_records_messages_bounded() -> None:
    otel = Otel(capture_content=True)
    await run_team(otel)
    chat = sorted(otel.by_name("chat scripted"), key=lambda s: s.start_time)[1]
    sent = json.loads(chat.attributes["gen_ai.input.messages"])
    assert sent == [{"role": "user", "parts": [{"type": "text", "content": f"Reply to {SECRET_QUERY} as billing"}]}]
    answered = json.loads(chat.attributes["gen_ai.output.messages"])
    assert answered[0]["parts"][0]["content"] == "We will fix your invoice."
    small = Telemetry(tracer_provider=TracerProvider(), capture_content=True, max_content_chars=10)
    assert small.content("x" * 100) == "x" * 10


async def test_metrics_follow_the_genai_client_conventions() -> None:
    otel = Otel()
    result = await run_team(otel)
    usage = otel.histogram("gen_ai.client.token.usage")
    by_type = {p.attributes["gen_ai.token.type"]: p for p in usage}
    assert by_type["input"].sum == result.usage.prompt_tokens and by_type["input"].count == 2
    assert by_type["output"].sum == result.usage.completion_tokens and by_type["output"].count == 2
    for point in usage:
        assert point.attributes["gen_ai.operation.name"] == "chat"
        assert point.attributes["gen_ai.provider.name"] == "llmteam.scripted"
        assert point.attributes["gen_ai.request.model"] == "scripted"
        assert point.attributes["llmteam.tenant.id"] == "acme"
        assert "llmteam.run.id" not in point.attributes  # unbounded cardinality stays on spans
    [duration] = otel.histogram("gen_ai.client.operation.duration")
    assert duration.count == 2 and duration.sum > 0


class Broken:
    model = "broken-model"

    async def generate(self, prompt: str) -> str:
        raise NotImplementedError

    async def complete(self, messages: list[dict[str, str]], **options: Any) -> Completion:
        raise ConnectionError("model endpoint down")


async def test_a_failing_model_marks_chat_agent_and_run_spans_as_errors() -> None:
    otel = Otel()
    with pytest.raises(ConnectionError):
        await run_team(otel, team(Broken()))
    for name in ("chat broken-model", "invoke_agent triage", "invoke_workflow support"):
        [span] = otel.by_name(name)
        assert span.status.status_code == StatusCode.ERROR, name
        assert span.attributes["error.type"] == "ConnectionError", name
    [duration] = otel.histogram("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "ConnectionError"
    assert otel.histogram("gen_ai.client.token.usage") == []


async def test_tool_spans_follow_execute_tool() -> None:
    otel = Otel(capture_content=True)
    with otel.telemetry.run("t", "acme", "run-1"):
        with otel.telemetry.tool("lookup_invoice", "call_7", {"invoice_id": "INV-1"}, description="Find one") as s:
            s.set_result({"amount": 3})
        with pytest.raises(TimeoutError):
            with otel.telemetry.tool("slow", "call_8", {}):
                raise TimeoutError
    [ok] = otel.by_name("execute_tool lookup_invoice")
    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"
    assert ok.attributes["gen_ai.tool.name"] == "lookup_invoice"
    assert ok.attributes["gen_ai.tool.call.id"] == "call_7"
    assert ok.attributes["gen_ai.tool.description"] == "Find one"
    assert json.loads(ok.attributes["gen_ai.tool.call.arguments"]) == {"invoice_id": "INV-1"}
    assert json.loads(ok.attributes["gen_ai.tool.call.result"]) == {"amount": 3}
    assert ok.attributes["llmteam.tenant.id"] == "acme"
    [failed] = otel.by_name("execute_tool slow")
    assert failed.status.status_code == StatusCode.ERROR and failed.attributes["error.type"] == "TimeoutError"


async def test_the_traced_provider_is_still_a_provider() -> None:
    from llmteam.llm import LLMProvider
    from llmteam.observability._otel import TracedLLM

    llm = ScriptedLLM(default="ok")
    traced = TracedLLM(Otel().telemetry, llm)  # the plain wrapper, for a provider that does not stream
    assert isinstance(traced, LLMProvider)
    assert traced.model == "scripted" and traced.call_count == 0
    assert await traced.generate("hi") == "ok"
    assert llm.call_count == 1


async def test_a_stream_is_one_chat_span_with_the_final_usage() -> None:
    from llmteam.llm import Completion as Final
    from llmteam.llm import StreamingProvider
    from llmteam.observability._otel import traced

    otel = Otel()
    llm = traced(otel.telemetry, ScriptedLLM(default="streamed answer here"))
    assert isinstance(llm, StreamingProvider)
    events = [e async for e in llm.stream([{"role": "user", "content": "hi"}])]
    final = events[-1]
    assert isinstance(final, Final)
    [chat] = otel.by_name("chat scripted")
    assert chat.attributes["gen_ai.request.stream"] is True
    assert chat.attributes["gen_ai.usage.output_tokens"] == final.usage.completion_tokens
    assert not isinstance(traced(otel.telemetry, Broken()), StreamingProvider)


async def test_captured_output_messages_include_tool_calls() -> None:
    from llmteam.llm import ToolCall, ToolSpec
    from llmteam.observability._otel import traced

    otel = Otel(capture_content=True)
    llm = traced(otel.telemetry, ScriptedLLM(default=ToolCall.of("lookup", {"id": 7}, id="call_1")))
    await llm.complete([{"role": "user", "content": "find 7"}], tools=[ToolSpec("lookup", "", {"type": "object"})])
    [chat] = otel.by_name("chat scripted")
    [answer] = json.loads(chat.attributes["gen_ai.output.messages"])
    assert answer["parts"] == [{"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": '{"id": 7}'}]


async def test_a_governed_tool_call_is_an_execute_tool_span_inside_its_agent_step() -> None:
    from llmteam.llm import ToolCall
    from llmteam.tools import tool

    @tool
    def lookup_invoice(number: str) -> dict[str, float]:
        """Find an invoice."""
        if number != "INV-1":
            raise KeyError(number)
        return {"amount": 120.0}

    llm = ScriptedLLM({"Look up": [ToolCall.of("lookup_invoice", {"number": "INV-1"}, id="call_a"),
                                   ToolCall.of("lookup_invoice", {"number": "INV-2"}, id="call_b")]})
    otel = Otel()
    t = Team("billing", llm=llm, agents=[Agent("clerk", prompt="Look up {query}", tools=[lookup_invoice])])
    await run_team(otel, t)
    [step] = otel.by_name("invoke_agent clerk")
    spans = sorted(otel.by_name("execute_tool lookup_invoice"), key=lambda s: s.attributes["gen_ai.tool.call.id"])
    assert [s.attributes["gen_ai.tool.call.id"] for s in spans] == ["call_a", "call_b"]
    for span in spans:
        assert span.parent.span_id == step.context.span_id
        assert span.attributes["gen_ai.operation.name"] == "execute_tool"
        assert span.attributes["llmteam.tenant.id"] == "acme"
        assert "gen_ai.tool.call.arguments" not in span.attributes
    assert spans[0].status.status_code != StatusCode.ERROR
    assert spans[1].status.status_code == StatusCode.ERROR and spans[1].attributes["error.type"] == "KeyError"
    assert len(otel.by_name("chat scripted")) == 2  # the tool round and the answer


# -- what a failing span may record, and how long an attribute may be (the review's findings) -----------------

CARD = "4111-1111-1111-1111"


def _leaks(otel: Otel, *needles: str) -> list[str]:
    found = []
    for span in otel.finished():
        texts = [str(span.status.description), *map(str, span.attributes.values())]
        texts += [str(event.attributes) for event in span.events]
        found += [f"{span.name}: {text[:80]}" for text in texts for needle in needles if needle in text]
    return found


async def test_a_failing_span_records_only_the_error_type_without_content_capture() -> None:
    """Spans recorded every escaping exception's message (an ``exception`` event and the status description): a
    tool's ``ValueError(f"card {card} declined")`` and a prompt error quoting the run input reached the trace."""
    from llmteam.llm import ToolCall

    def charge(card: str) -> str:
        """Charge a card."""
        raise ValueError(f"card {card} was declined")

    llm = ScriptedLLM([("pay", ToolCall("c1", "charge", json.dumps({"card": CARD})))], default="done")
    t = Team("t", llm=llm, agents=[Agent("payer", prompt="pay {query}", tools=[charge]),
                                   Agent("fmt", prompt="{query.name}")])
    otel = Otel()
    with pytest.raises(Exception, match="query has no key 'name'"):
        await run_team(otel, t)
    assert _leaks(otel, CARD, "4111") == []
    [tool] = otel.by_name("execute_tool charge")
    [step] = otel.by_name("invoke_agent fmt")
    for span in (tool, step, *otel.by_name("invoke_workflow t")):
        assert span.status.status_code == StatusCode.ERROR and span.events == ()
        assert span.status.description == span.attributes["error.type"]
    assert tool.attributes["error.type"] == "ValueError" and step.attributes["error.type"] == "PromptVariableError"


async def test_with_content_capture_a_failing_span_records_the_message_bounded() -> None:
    otel = Otel(capture_content=True)
    otel.telemetry.max_content_chars = 50
    message = f"card {CARD} was declined" + "!" * 10_000
    with pytest.raises(ValueError):
        with otel.telemetry.tool("charge", "c1", {}):
            raise ValueError(message)
    [span] = otel.by_name("execute_tool charge")
    [event] = span.events
    assert event.name == "exception" and event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == message[:50]
    assert len(event.attributes["exception.stacktrace"]) <= 50
    assert span.status.description == f"ValueError: {message[:50]}"


class HugeIds:
    """A provider whose endpoint sends a response id of megabytes (and, once, a tool call id of megabytes)."""

    model = "m"
    supports_tools = True

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, prompt: str) -> str:
        raise NotImplementedError

    async def complete(self, messages: list[Any], *, tools: Any = None, **options: Any) -> Completion:
        from llmteam.llm import ToolCall

        self.calls += 1
        calls = (ToolCall("c" * 3_000_000, "look", '{"x": "y"}'),) if self.calls == 1 else ()
        return Completion("done", model="m" * 1000, finish_reason="s" * 1000, raw={"id": "i" * 3_000_000},
                          tool_calls=calls)


async def test_every_string_attribute_is_bounded() -> None:
    """``gen_ai.response.id`` and ``gen_ai.tool.call.id`` (3 MB each, from the endpoint) were recorded whole."""
    def look(x: str) -> str:
        """Look x up."""
        return "found"

    otel = Otel()
    t = Team("t", llm=HugeIds(), agents=[Agent("a", prompt="p {query}", tools=[look])])
    await run_team(otel, t)
    spans = otel.finished()
    assert {s.name for s in spans} >= {"chat m", "execute_tool look", "invoke_agent a", "invoke_workflow t"}
    for span in spans:
        for key, value in span.attributes.items():
            values = value if isinstance(value, tuple) else (value,)
            assert all(len(str(v)) <= 256 for v in values), (span.name, key)
    chat = otel.by_name("chat m")[0]
    assert chat.attributes["gen_ai.response.id"] == "i" * 256
    assert otel.by_name("execute_tool look")[0].attributes["gen_ai.tool.call.id"] == "c" * 256
