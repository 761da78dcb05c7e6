"""``Telemetry``: the OpenTelemetry implementation of the runtime's hooks (GenAI semantic conventions).

Attribute names follow the GenAI conventions as published in ``opentelemetry-semantic-conventions`` (development
status); they are spelled out here so the semconv package is not a dependency.

A failing span records ``error.type`` and an ERROR status naming the exception's type only: an exception's
message may quote a sealed answer or a tool's arguments, so it (and an ``exception`` event) is recorded only with
``capture_content=True``, cut to ``max_content_chars``. Every other string attribute (ids and names, some sent by
the model endpoint) is cut to :data:`MAX_ATTRIBUTE_CHARS`.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from llmteam.llm import (
    Completion,
    LLMProvider,
    Message,
    OpenAICompatible,
    ScriptedLLM,
    StreamEvent,
    StreamingProvider,
    ToolSpec,
)
from llmteam.observability._noop import NoTelemetry

T = TypeVar("T")

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of gen_ai.provider.name, still read by many backends
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"  # noqa: S105 (an attribute name, not a secret)
OUTPUT_TYPE = "gen_ai.output.type"
CONVERSATION_ID = "gen_ai.conversation.id"
WORKFLOW_NAME = "gen_ai.workflow.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_DESCRIPTION = "gen_ai.tool.description"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
TENANT_ID = "llmteam.tenant.id"
RUN_ID = "llmteam.run.id"
STEP = "llmteam.step"

_REQUEST_OPTIONS = {"temperature": "gen_ai.request.temperature", "max_tokens": "gen_ai.request.max_tokens",
                    "top_p": "gen_ai.request.top_p", "seed": "gen_ai.request.seed",
                    "frequency_penalty": "gen_ai.request.frequency_penalty",
                    "presence_penalty": "gen_ai.request.presence_penalty"}
# bucket boundaries recommended by the GenAI metric conventions
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]

MAX_ATTRIBUTE_CHARS = 256  # any string attribute value but content (cut to max_content_chars)

_NO_RUN: Mapping[str, str] = MappingProxyType({})
_RUN_ATTRIBUTES: ContextVar[Mapping[str, str]] = ContextVar("llmteam_otel_run", default=_NO_RUN)


def provider_name(llm: LLMProvider) -> str:
    """The ``gen_ai.provider.name`` of a provider: ``openai`` for the chat-completions wire format."""
    if isinstance(llm, OpenAICompatible):
        return "openai"
    if isinstance(llm, ScriptedLLM):
        return "llmteam.scripted"
    return type(llm).__name__.lower()


def _error_type(exc: BaseException) -> str:
    return type(exc).__qualname__[:MAX_ATTRIBUTE_CHARS]


def bounded(text: str) -> str:
    """A string attribute value cut to :data:`MAX_ATTRIBUTE_CHARS` (ids and names; some come from the endpoint)."""
    return text[:MAX_ATTRIBUTE_CHARS]


class Telemetry(NoTelemetry):
    """Spans and metrics through ``tracer_provider``/``meter_provider`` (default: the global ones).

    ``capture_content=True`` records prompts, outputs, tool arguments and results (each cut to
    ``max_content_chars``); leave it off where traces leave the trust boundary of the data.
    """

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool = False,
                 max_content_chars: int = 16_384) -> None:
        from llmteam import __version__

        if not isinstance(max_content_chars, int) or max_content_chars < 1:
            raise ValueError(f"max_content_chars={max_content_chars!r} must be an integer >= 1")
        self.capture_content = bool(capture_content)
        self.max_content_chars = max_content_chars
        self.tracer = trace.get_tracer("llmteam", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("llmteam", __version__, meter_provider=meter_provider)
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)

    def content(self, value: Any) -> str:
        """``value`` as bounded JSON text for a content attribute."""
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        return text[: self.max_content_chars]

    @contextmanager
    def span(self, name: str, kind: SpanKind, attributes: Mapping[str, Any]) -> Iterator[Span]:
        """A current span carrying the run's attributes; an escaping error sets ``error.type`` and an ERROR status
        naming its type (its message and an ``exception`` event only with content capture). The callers bound
        every string attribute where it is made (:func:`bounded`), once."""
        attrs = {**_RUN_ATTRIBUTES.get(), **attributes}
        with self.tracer.start_as_current_span(name[:MAX_ATTRIBUTE_CHARS], kind=kind, attributes=attrs,
                                               record_exception=False, set_status_on_exception=False) as span:
            try:
                yield span
            except BaseException as exc:
                self._failed(span, exc)
                raise

    def _failed(self, span: Span, exc: BaseException) -> None:
        """Mark ``span`` failed by ``exc``: its type always, its message (bounded) only with content capture."""
        kind = _error_type(exc)
        span.set_attribute(ERROR_TYPE, kind)
        if not self.capture_content:
            span.set_status(Status(StatusCode.ERROR, kind))
            return
        message = str(exc)[: self.max_content_chars]
        span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}"))
        frames = "".join(traceback.format_tb(exc.__traceback__))[-self.max_content_chars:]
        span.add_event("exception", {"exception.type": kind, "exception.message": message,
                                     "exception.stacktrace": frames, "exception.escaped": "True"})

    @contextmanager
    def run(self, team: str, tenant_id: str, run_id: str) -> Iterator[Span]:
        """The ``invoke_workflow`` span of one run; every span inside carries the tenant and run ids."""
        run_id = bounded(run_id)
        token = _RUN_ATTRIBUTES.set({TENANT_ID: bounded(tenant_id), RUN_ID: run_id, CONVERSATION_ID: run_id})
        try:
            with self.span(f"invoke_workflow {team}", SpanKind.INTERNAL,
                           {OPERATION: "invoke_workflow", WORKFLOW_NAME: bounded(team)}) as span:
                yield span
        finally:
            _RUN_ATTRIBUTES.reset(token)

    def wrap_agent(self, governed: T) -> T:
        """A GovernedAgent whose steps are ``invoke_agent`` spans and whose model calls are ``chat`` spans."""
        governed.llm = traced(self, governed.llm)  # type: ignore[attr-defined]
        return TracedAgent(self, governed)  # type: ignore[return-value]

    @contextmanager
    def tool(self, name: str, call_id: str = "", arguments: Mapping[str, Any] | None = None,
             *, description: str = "") -> Iterator[ToolSpan]:
        """The ``execute_tool`` span of one tool call; call ``set_result`` on what it yields."""
        attrs: dict[str, Any] = {OPERATION: "execute_tool", TOOL_NAME: bounded(name), TOOL_TYPE: "function"}
        if call_id:
            attrs[TOOL_CALL_ID] = bounded(call_id)
        if description:
            attrs[TOOL_DESCRIPTION] = bounded(description)
        if self.capture_content and arguments is not None:
            attrs[TOOL_ARGUMENTS] = self.content(dict(arguments))
        with self.span(f"execute_tool {name}", SpanKind.INTERNAL, attrs) as span:
            yield ToolSpan(self, span)


class ToolSpan:
    """What :meth:`Telemetry.tool` yields: records the result when content capture is on."""

    def __init__(self, telemetry: Telemetry, span: Span) -> None:
        self._telemetry, self.span = telemetry, span

    def set_result(self, result: Any) -> None:
        """Record the tool's result (only with content capture)."""
        if self._telemetry.capture_content:
            self.span.set_attribute(TOOL_RESULT, self._telemetry.content(result))


class TracedAgent:
    """A GovernedAgent seen by the orchestrator: each ``process`` is an ``invoke_agent`` span."""

    def __init__(self, telemetry: Telemetry, governed: Any) -> None:
        self._telemetry, self._governed = telemetry, governed
        self.name: str = governed.name

    def get_state(self) -> dict[str, Any]:
        """The wrapped agent's visible state."""
        state: dict[str, Any] = self._governed.get_state()
        return state

    async def process(self, state: dict[str, Any]) -> dict[str, Any]:
        """Run the wrapped step inside its ``invoke_agent`` span."""
        run = self._governed.run
        step = len(run.steps) + 1
        attrs = {OPERATION: "invoke_agent", AGENT_NAME: bounded(self.name),
                 AGENT_ID: bounded(f"{run.run_id}/{self.name}"), STEP: step}
        with self._telemetry.span(f"invoke_agent {self.name}", SpanKind.INTERNAL, attrs) as span:
            result: dict[str, Any] = await self._governed.process(state)
            if run.steps and run.steps[-1].step == step:
                record = run.steps[-1]
                span.set_attributes({REQUEST_MODEL: bounded(record.model), INPUT_TOKENS: record.usage.prompt_tokens,
                                     OUTPUT_TOKENS: record.usage.completion_tokens})
            return result


def _parts(message: Message) -> list[dict[str, Any]]:
    if message.get("role") == "tool":
        return [{"type": "tool_call_response", "id": message.get("tool_call_id", ""),
                 "response": message.get("content", "")}]
    parts: list[dict[str, Any]] = []
    if message.get("content"):
        parts.append({"type": "text", "content": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append({"type": "tool_call", "id": call.get("id", ""), "name": function.get("name", ""),
                      "arguments": function.get("arguments", "")})
    return parts


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Chat messages in the GenAI conventions' message shape (role plus typed parts)."""
    return [{"role": m.get("role", ""), "parts": _parts(m)} for m in messages]


class _Chat:
    """One traced model call: its span, its metric attributes and its start time."""

    def __init__(self, telemetry: Telemetry, span: Span, attributes: dict[str, Any]) -> None:
        self.telemetry, self.span, self.attributes = telemetry, span, attributes
        self.started = time.perf_counter()

    def failed(self, exc: BaseException) -> None:
        self.telemetry.duration.record(time.perf_counter() - self.started,
                                       {**self.attributes, ERROR_TYPE: _error_type(exc)})

    def done(self, completion: Completion) -> None:
        telemetry, span, usage = self.telemetry, self.span, completion.usage
        response_model = bounded(completion.model or str(self.attributes[REQUEST_MODEL]))
        span.set_attributes({RESPONSE_MODEL: response_model, FINISH_REASONS: [bounded(completion.finish_reason)],
                             INPUT_TOKENS: usage.prompt_tokens, OUTPUT_TOKENS: usage.completion_tokens})
        response_id = (completion.raw or {}).get("id")
        if isinstance(response_id, str):
            span.set_attribute(RESPONSE_ID, bounded(response_id))
        if telemetry.capture_content:
            answer = {**_messages([completion.to_message()])[0], "finish_reason": completion.finish_reason}
            span.set_attribute(OUTPUT_MESSAGES, telemetry.content([answer]))
        attrs = {**self.attributes, RESPONSE_MODEL: response_model}
        telemetry.duration.record(time.perf_counter() - self.started, attrs)
        telemetry.token_usage.record(usage.prompt_tokens, {**attrs, TOKEN_TYPE: "input"})
        telemetry.token_usage.record(usage.completion_tokens, {**attrs, TOKEN_TYPE: "output"})


class TracedLLM:
    """A provider whose ``complete`` calls are ``chat`` spans and feed the GenAI client metrics."""

    def __init__(self, telemetry: Telemetry, llm: LLMProvider) -> None:
        self._telemetry, self._llm = telemetry, llm
        self.provider = bounded(provider_name(llm))
        base = getattr(llm, "base_url", None)
        parts = urlsplit(base) if isinstance(base, str) else None
        self._server: dict[str, Any] = {}
        if parts is not None and parts.hostname:
            self._server[SERVER_ADDRESS] = bounded(parts.hostname)
            if parts.port:
                self._server[SERVER_PORT] = parts.port

    @property
    def model(self) -> str:
        """The wrapped provider's model."""
        return self._llm.model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._llm!r})"

    @contextmanager
    def _chat(self, messages: list[Message], options: Mapping[str, Any], stream: bool) -> Iterator[_Chat]:
        telemetry, model = self._telemetry, bounded(self._llm.model)
        common = {OPERATION: "chat", PROVIDER: self.provider, REQUEST_MODEL: model, **self._server}
        attrs: dict[str, Any] = {**common, SYSTEM: self.provider}
        for option, attribute in _REQUEST_OPTIONS.items():
            value = options.get(option)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attrs[attribute] = value
        if stream:
            attrs["gen_ai.request.stream"] = True
        if options.get("response_format") is not None:
            attrs[OUTPUT_TYPE] = "json"
        if telemetry.capture_content:
            attrs[INPUT_MESSAGES] = telemetry.content(_messages(messages))
        tenant = _RUN_ATTRIBUTES.get().get(TENANT_ID)
        metric_attrs = {**common, **({TENANT_ID: tenant} if tenant else {})}
        with telemetry.span(f"chat {model}", SpanKind.CLIENT, attrs) as span:
            chat = _Chat(telemetry, span, metric_attrs)
            try:
                yield chat
            except BaseException as exc:
                chat.failed(exc)
                raise

    async def generate(self, prompt: str) -> str:
        """Answer one user prompt (traced as a chat call)."""
        return (await self.complete([{"role": "user", "content": prompt}])).text

    async def complete(self, messages: list[Message], **options: Any) -> Completion:
        """The wrapped provider's completion, inside a ``chat`` span."""
        with self._chat(messages, options, stream=False) as chat:
            completion = await self._llm.complete(messages, **options)
            chat.done(completion)
        return completion


class TracedStreamingLLM(TracedLLM):
    """A streaming provider traced like :class:`TracedLLM`; a stream is one ``chat`` span, closed by its end."""

    async def stream(self, messages: list[Message], *, tools: Sequence[ToolSpec] | None = None,
                     **options: Any) -> AsyncIterator[StreamEvent]:
        """The wrapped provider's stream, inside a ``chat`` span that records the final completion."""
        inner: StreamingProvider = self._llm  # type: ignore[assignment]
        with self._chat(messages, options, stream=True) as chat:
            async for event in inner.stream(messages, tools=tools, **options):
                if isinstance(event, Completion):
                    chat.done(event)
                yield event


def traced(telemetry: Telemetry, llm: LLMProvider) -> TracedLLM:
    """``llm`` wrapped for tracing, streaming when it streams."""
    if isinstance(llm, StreamingProvider):
        return TracedStreamingLLM(telemetry, llm)
    return TracedLLM(telemetry, llm)
