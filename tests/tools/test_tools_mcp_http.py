"""The HTTP transport's message bound and the bounded DELETE ending a session (the transport itself runs against
real servers in test_tools_mcp.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tools import MCPServer
from llmteam.tools._mcp_http import MessageBytes

from .._support.serving import serving


def _too_long(data: bytes, limit: int, sse: bool) -> bool:
    """The reference: does ``data`` (a prefix of a response) hold a message longer than ``limit`` bytes?"""
    if not sse:
        return len(data) > limit
    event = 0
    *lines, partial = data.split(b"\n")
    for line in lines:
        if line in (b"", b"\r"):
            event = 0
            continue
        event += len(line) + 1
        if event > limit:
            return True
    return event + len(partial) > limit


_SSE_BYTES = st.lists(st.sampled_from([b"data: ", b"x", b"\n", b"\r", b"\r\n", b"\n\n", b"yyyyyyy"]),
                      max_size=60).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_SSE_BYTES, st.binary(max_size=200)), st.lists(st.integers(0, 400), max_size=12),
       st.integers(1, 40), st.booleans())
def test_the_bound_trips_exactly_when_a_message_is_too_long(stream: bytes, cuts: list[int], limit: int,
                                                           sse: bool) -> None:
    """Whatever the chunking, ``feed`` answers False at the first chunk after which the response holds a message
    longer than ``limit`` bytes (a JSON body whole; an SSE event from blank line to blank line), True before."""
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    bound = MessageBytes(limit, sse=sse)
    for start, end in zip(points, points[1:]):
        ok = bound.feed(stream[start:end])
        assert ok is not _too_long(stream[:end], limit, sse)
        if not ok:
            break


def test_an_event_of_many_short_lines_is_one_message() -> None:
    bound = MessageBytes(20, sse=True)
    assert bound.feed(b"data: a\n\n" * 10)  # ten small events
    assert bound.feed(b"data: a\ndata: b\n")  # 16 bytes of an event in progress
    assert not bound.feed(b"data: c\n")  # 24
    assert not MessageBytes(20, sse=False).feed(b"{\n" * 11)  # a JSON body counts whole, line breaks or not


# -- the DELETE ending a session, against a real HTTP server on 127.0.0.1 ------------------------------------------

class _Server(BaseHTTPRequestHandler):
    """Opens a session (initialize, tools/list, notifications), answers every call "ok", records each DELETE and,
    with ``hang_delete``, answers none until the test ends."""

    protocol_version = "HTTP/1.1"
    hang_delete = False
    deletes: list[dict[str, str]] = []
    release = threading.Event()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("mcp-session-id", "session-1")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        message = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if "id" not in message:
            return self._send(202, b"")
        if message["method"] == "initialize":
            result = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                      "serverInfo": {"name": "plain", "version": "1"}}
        elif message["method"] == "tools/list":
            result = {"tools": [{"name": "ok", "inputSchema": {"type": "object"}}]}
        else:
            result = {"content": [{"type": "text", "text": "ok"}]}
        self._send(200, json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode())

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        self._send(405, b"")

    def do_DELETE(self) -> None:  # noqa: N802 - the http.server hook's name
        self.deletes.append({k.lower(): v for k, v in self.headers.items()})
        if self.hang_delete:
            self.release.wait(600)
        try:
            self._send(200, b"")
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on it (the test's point)
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[tuple[type[_Server], str]]:
    """A fresh handler class and the URL of a server running it."""
    handler = type("Handler", (_Server,), {"deletes": [], "release": threading.Event()})
    with serving(handler) as port:
        try:
            yield handler, f"http://127.0.0.1:{port}/mcp"
        finally:
            handler.release.set()  # before the server closes: it joins its request threads


async def test_close_gives_up_on_a_delete_the_server_never_answers(
    serve: tuple[type[_Server], str], caplog: pytest.LogCaptureFixture
) -> None:
    """A bad server's move: never answer the DELETE that ends the session. close() waited for httpx's read timeout
    of the event stream (300 s); it gives up after min(connect_timeout, 5 s) and leaves no task behind."""
    handler, url = serve
    handler.hang_delete = True
    tasks = asyncio.all_tasks()
    server = await MCPServer("plain", url=url, connect_timeout=2).open()
    assert await server.tool("ok").invoke({}) == "ok"
    with caplog.at_level(logging.DEBUG, logger="llmteam.tools"):
        await asyncio.wait_for(server.close(), 60)  # a hang guard only, far below 300 s
    assert handler.deletes and handler.deletes[0]["mcp-session-id"] == "session-1"
    assert "did not answer the DELETE ending its session within 2 s" in caplog.text
    assert not {t for t in asyncio.all_tasks() - tasks if not t.done()}


async def test_close_still_ends_the_session_as_the_sdk_did(serve: tuple[type[_Server], str]) -> None:
    """The DELETE is sent by llmteam now (bounded), as the SDK sent it: the session id and the negotiated protocol."""
    handler, url = serve
    async with MCPServer("plain", url=url) as server:
        version = server.server_info["protocol_version"]
    assert len(handler.deletes) == 1
    assert handler.deletes[0].items() >= {"mcp-session-id": "session-1", "mcp-protocol-version": version}.items()
