"""MCP over streamable HTTP with every message bounded: the SDK reads a JSON body or an SSE event without limit.

:class:`BoundedLines` is an httpx transport that passes each response through as it arrives but counts the bytes
since the last line break: a JSON-RPC message is one line of an SSE event's ``data`` or a whole JSON body, so no
message longer than the bound gets through. Past the bound the response fails with ``httpx.ReadError`` and
``on_overflow`` is told first (:class:`~llmteam.tools.MCPServer` then ends the session). Responses are asked
for uncompressed and one that is compressed anyway is refused: the bound counts the bytes the SDK will parse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

__all__ = ["BoundedLines", "open_line"]


def open_line(run: int, chunk: bytes, limit: int) -> int | None:
    """The length of the line still open after ``chunk``, ``run`` bytes of it having come before; None when a
    line (the open one, or one inside ``chunk``) is longer than ``limit`` bytes."""
    first = chunk.find(b"\n")
    if first < 0:
        run += len(chunk)
        return run if run <= limit else None
    if run + first > limit:
        return None
    last = chunk.rfind(b"\n")
    if last - first > limit and any(len(line) > limit for line in chunk[first + 1:last].split(b"\n")):
        return None
    tail = len(chunk) - last - 1
    return tail if tail <= limit else None


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, on_overflow: Callable[[], None],
                 request: httpx.Request) -> None:
        self._inner, self._limit, self._on_overflow, self._request = inner, limit, on_overflow, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        run = 0
        async for chunk in self._inner:
            after = open_line(run, chunk, self._limit)
            if after is None:
                self._on_overflow()
                raise httpx.ReadError(f"an MCP message longer than {self._limit:,} bytes", request=self._request)
            run = after
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class BoundedLines(httpx.AsyncBaseTransport):
    """An httpx transport whose responses fail as soon as a line runs past ``limit`` bytes (see the module)."""

    def __init__(self, limit: int, on_overflow: Callable[[], None], **options: Any) -> None:
        self._inner = httpx.AsyncHTTPTransport(**options)
        self._limit = limit
        self._on_overflow = on_overflow

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` asking for an uncompressed answer; its body is bounded line by line."""
        request.headers["Accept-Encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            await response.aclose()
            raise httpx.DecodingError(f"the MCP server answered with Content-Encoding {encoding!r} though asked for "
                                      "none; its messages could not be bounded", request=request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _BoundedStream(response.stream, self._limit, self._on_overflow, request)
        return response

    async def aclose(self) -> None:
        """Close the connections."""
        await self._inner.aclose()
