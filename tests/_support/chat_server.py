"""A real local HTTP server speaking the OpenAI chat-completions wire format, for tests of everything that calls one.

Every request it receives is validated with the official ``openai`` package's request types
(``CompletionCreateParams``, streaming or not, nested tool calls included, in strict mode: a string where the types
say boolean is refused); a request that is off the wire format is answered ``400`` with pydantic's account of it
and kept in ``rejected``, so the client under test fails loudly.
Answers are ``openai`` response models: a :class:`ChatCompletion` (JSON), a list of :class:`ChatCompletionChunk`
(server-sent events ending in ``data: [DONE]``, as with ``stream_options.include_usage``; a str in that list is
a chunk's raw JSON text, sent as it is), or a raw :class:`Reply`
(any status, headers, body, delay) for error paths. Use the ``chat_server`` fixture (``tests/conftest.py``):
``chat_server.answer = lambda body: completion("hi")`` or ``chat_server.script(Reply(429), completion("ok"))``.
For tests that count model calls across processes (durable runs): ``calls`` counts the valid requests per last
message, ``total()`` all of them, ``delay`` holds every reply back (cut short by ``stop``), and
:func:`echo_answer` answers ``re: <prompt>``, streamed one word per chunk when asked to.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

from openai.types.chat import ChatCompletion, ChatCompletionChunk, completion_create_params
from pydantic import TypeAdapter, ValidationError

_PLAIN = TypeAdapter(completion_create_params.CompletionCreateParamsNonStreaming)
_STREAMING = TypeAdapter(completion_create_params.CompletionCreateParamsStreaming)


@dataclass
class Reply:
    """A raw reply: ``body`` is an ``openai`` model, a chunk list, JSON data or text; sent after ``delay`` seconds."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Answer = Union[Reply, ChatCompletion, list[ChatCompletionChunk]]


@dataclass
class Received:
    """One request as the server received it (valid ones only; see ``ChatServer.rejected``)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    time: float


def completion(text: str | None = "ok", calls: Sequence[tuple[str, str, str]] = (), *,
               usage: tuple[int, int] | None = (11, 5), model: str = "served-model") -> ChatCompletion:
    """A chat completion answering ``text`` and/or the tool ``calls`` (id, name, JSON arguments); no usage if None."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                                 for i, n, a in calls]
    data: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
    }
    if usage is not None:
        data["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return ChatCompletion.model_validate(data)


def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: tuple[int, int] | None = None,
          model: str = "served-model") -> ChatCompletionChunk:
    """One streamed chunk; ``delta=None`` is the final usage-only chunk (no choices)."""
    return ChatCompletionChunk.model_validate({
        "id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": None if usage is None else {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                             "total_tokens": sum(usage)},
    })


def text_stream(*pieces: str, usage: tuple[int, int] = (12, 4),
                model: str = "served-model") -> list[ChatCompletionChunk]:
    """The chunks of a streamed text answer: role, one delta per piece, the finish reason, then usage."""
    chunks = [chunk({"role": "assistant", "content": ""}, model=model)]
    chunks += [chunk({"content": p}, model=model) for p in pieces]
    return [*chunks, chunk({}, "stop", model=model), chunk(None, usage=usage, model=model)]


def _drain(value: Any) -> None:
    """Force pydantic's lazily validated iterables (``Iterable[...]`` fields of the openai types), recursively."""
    if isinstance(value, dict):
        for item in value.values():
            _drain(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _drain(item)
    elif isinstance(value, Iterator):
        for item in list(value):
            _drain(item)


def validate_request(body: Any) -> None:
    """Raise ValidationError (or TypeError) unless ``body`` is a valid chat-completions request."""
    if not isinstance(body, dict):
        raise TypeError(f"the request body is {type(body).__name__}, not a JSON object")
    _drain((_STREAMING if body.get("stream") else _PLAIN).validate_python(body, strict=True))


class ChatServer:
    """The server; ``answer(body)`` gives each reply unless a scripted one is queued (``script``)."""

    def __init__(self, answer: Callable[[dict[str, Any]], Answer] | None = None) -> None:
        self.answer = answer or (lambda body: completion("default answer", usage=(7, 3), model="m"))
        self.replies: deque[Answer] = deque()
        self.requests: list[Received] = []
        self.bodies: list[dict[str, Any]] = []  # the bodies of ``requests``, in order
        self.rejected: list[str] = []  # why each off-format request was refused
        self.errors: list[Exception] = []  # what the answer function raised
        self.stop_event = threading.Event()
        self.stop = self.stop_event  # set: delayed replies go out at once (the server is closing)
        self.lock = threading.Lock()  # guards ``requests`` and ``bodies`` while handler threads append
        self.delay = 0.0  # seconds every reply is held back (on top of a Reply's own delay)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    body = json.loads(raw or b"null")
                    validate_request(body)
                except (ValueError, TypeError, ValidationError) as exc:
                    server.rejected.append(str(exc))
                    reply: Answer = Reply(400, {"error": {"message": f"off the chat-completions format: {exc}"}})
                else:
                    with server.lock:
                        server.requests.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                        server.bodies.append(body)
                    if server.delay:
                        server.stop_event.wait(server.delay)
                    try:
                        reply = server.replies.popleft() if server.replies else server.answer(body)
                    except Exception as exc:  # the test's answer failed: a 500 the client reports, kept in errors
                        server.errors.append(exc)
                        reply = Reply(500, {"error": {"message": f"the test server's answer failed: {exc!r}"}})
                try:
                    server._send(self, reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def script(self, *replies: Answer) -> None:
        """Queue replies for the next requests, in order (before ``answer`` is asked)."""
        self.replies.extend(replies)

    def prompts(self) -> Counter[str]:
        """How many requests each last message asked."""
        with self.lock:
            bodies = list(self.bodies)
        return Counter(str(b["messages"][-1].get("content")) for b in bodies)

    @property
    def calls(self) -> Counter[str]:
        """The valid requests received so far, per last message (the same as :meth:`prompts`)."""
        return self.prompts()

    def total(self) -> int:
        """How many valid requests were received."""
        with self.lock:
            return len(self.bodies)

    def _send(self, handler: BaseHTTPRequestHandler, reply: Answer) -> None:
        if not isinstance(reply, Reply):
            reply = Reply(body=reply)
        if reply.delay:
            self.stop_event.wait(reply.delay)
        if isinstance(reply.body, list) and all(isinstance(c, (ChatCompletionChunk, str)) for c in reply.body):
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "text/event-stream")
            for k, v in reply.headers.items():
                handler.send_header(k, v)
            handler.end_headers()
            for c in reply.body:  # a str is a chunk's raw JSON text (what pydantic will not write: a lone surrogate)
                data = c if isinstance(c, str) else c.model_dump_json(exclude_unset=True)
                handler.wfile.write(f"data: {data}\n\n".encode())
                handler.wfile.flush()
            handler.wfile.write(b"data: [DONE]\n\n")
            return
        body = reply.body
        if isinstance(body, ChatCompletion):
            data = body.model_dump_json(exclude_unset=True).encode()
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(data)

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop_event.set()  # cut delayed replies short
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def echo_answer(body: dict[str, Any], usage: tuple[int, int] = (5, 3), model: str = "counting") -> Answer:
    """``re: <last message>``: a completion, or streamed one word per chunk when the request asks to stream."""
    text = f"re: {body['messages'][-1]['content']}"
    if body.get("stream"):
        words = text.split(" ")
        return text_stream(*[w if i == 0 else f" {w}" for i, w in enumerate(words)], usage=usage, model=model)
    return completion(text, usage=usage, model=model)


@contextmanager
def text_server(answer: Callable[[str, str], str], served_model: Callable[[str], str] = lambda m: m,
                tokens: tuple[int, int] = (100, 20)) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server answering ``answer(model, last message)`` as model ``served_model(requested)`` with ``tokens`` used;
    yields (base_url, the request bodies received so far)."""

    def reply(body: dict[str, Any]) -> ChatCompletion:
        text = answer(body["model"], body["messages"][-1]["content"])
        return completion(text, usage=tokens, model=served_model(body["model"]))

    with ChatServer(reply) as server:
        yield server.base_url, server.bodies
