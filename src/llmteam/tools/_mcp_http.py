"""MCP over streamable HTTP with every message bounded: the SDK reads a JSON body or an SSE event without limit.

:func:`message_bound` gives httpx event hooks that pass each response through as it arrives but count the bytes
of the message in progress (:class:`MessageBytes`): a JSON body's bytes, or an SSE event's, from one blank line
to the next (an event's ``data`` may span many lines). Past the bound the response fails with ``httpx.ReadError``
and ``on_overflow`` is told first (:class:`~llmteam.tools.MCPServer` then ends the session). Responses are asked
for uncompressed and one that is compressed anyway is refused: the bound counts the bytes the SDK will parse.

:func:`end_session` sends the ``DELETE`` that ends a session within a short bound: the SDK sent it with the client's
timeouts, whose read timeout covers the event stream (300 s), so a server that never answered it held ``close()``
that long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx

from llmteam._deadline import within

if TYPE_CHECKING:
    from llmteam.tools._mcp import MCPServer

__all__ = ["CLOSE_TIMEOUT", "MessageBytes", "end_session", "message_bound"]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0  # the most close() waits for the DELETE ending an HTTP session (less when connect_timeout is)


class MessageBytes:
    """Counts the bytes of the message a response is delivering, refusing one longer than ``limit`` bytes.

    A JSON body is one message. In an SSE stream (``sse=True``) a message is an event: its lines, each counted
    with its line break, up to the blank line (empty, or a lone CR) that ends it. A stream that ends its lines with
    CR alone is counted as one long line, so it meets the bound sooner, never later.
    """

    def __init__(self, limit: int, *, sse: bool) -> None:
        self.limit, self.sse = limit, sse
        self._event = 0  # complete lines of the event in progress (SSE), or the body's bytes so far
        self._line = 0  # bytes of the line in progress (SSE)
        self._cr = False  # the line in progress is exactly b"\r" (SSE)

    def feed(self, chunk: bytes) -> bool:
        """Count ``chunk``; False once the message in progress is longer than the limit."""
        if not self.sse:
            self._event += len(chunk)
            return self._event <= self.limit
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            size = self._line + end - start
            if size == 0 or (size == 1 and (chunk[start:end] == b"\r" if end > start else self._cr)):
                self._event = 0  # a blank line: the event is complete
            else:
                self._event += size + 1
                if self._event > self.limit:
                    return False
            self._line, self._cr = 0, False
            start = end + 1
        rest = len(chunk) - start
        if rest:
            self._cr = self._line == 0 and chunk[start:] == b"\r"
            self._line += rest
        return self._event + self._line <= self.limit


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, bound: MessageBytes, on_overflow: Callable[[], None],
                 request: httpx.Request) -> None:
        self._inner, self._bound, self._on_overflow, self._request = inner, bound, on_overflow, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            if not self._bound.feed(chunk):
                self._on_overflow()
                raise httpx.ReadError(f"an MCP message longer than {self._bound.limit:,} bytes",
                                      request=self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def message_bound(limit: int, on_overflow: Callable[[], None]) -> dict[str, list[Callable[..., Any]]]:
    """httpx ``event_hooks`` bounding every response body to messages of at most ``limit`` bytes (see the module).

    Hooks rather than a transport, so whatever the client is configured with (proxies from the environment, TLS
    settings) still applies: a request asks for an uncompressed answer, and each response's body is wrapped before
    anyone reads it, or refused when it is compressed anyway.
    """

    async def ask_uncompressed(request: httpx.Request) -> None:
        request.headers["Accept-Encoding"] = "identity"

    async def bound(response: httpx.Response) -> None:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise httpx.DecodingError(f"the MCP server answered with Content-Encoding {encoding!r} though asked for "
                                      "none; its messages could not be bounded", request=response.request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        sse = response.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/event-stream"
        response.stream = _BoundedStream(response.stream, MessageBytes(limit, sse=sse), on_overflow,
                                         response.request)

    return {"request": [ask_uncompressed], "response": [bound]}


async def end_session(server: MCPServer, client: httpx.AsyncClient, session_id: Callable[[], str | None]) -> None:
    """End ``server``'s HTTP session with the SDK's own ``DELETE`` (its headers and redirect rule), within
    ``min(connect_timeout, CLOSE_TIMEOUT)``; past it give up, logging at debug (the server expires the session)."""
    from mcp.client.streamable_http import StreamableHTTPTransport

    transport = StreamableHTTPTransport(server.url or "")
    transport.session_id = session_id()  # type: ignore[assignment]  # the SDK declares both as None
    transport.protocol_version = server.server_info.get("protocol_version")
    if transport.session_id is None:
        return
    bound = min(server.connect_timeout, CLOSE_TIMEOUT)
    try:
        await within(transport.terminate_session(client), asyncio.get_running_loop().time() + bound)
    except TimeoutError:
        logger.debug("MCP server %r did not answer the DELETE ending its session within %g s; closed without it",
                     server.name, bound)
