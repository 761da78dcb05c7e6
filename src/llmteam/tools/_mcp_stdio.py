"""MCP's stdio transport with every message bounded: the SDK's own reader buffers a line without limit.

``mcp.client.stdio.stdio_client`` joins a server's output into lines by string concatenation with no bound, so a
server that writes one endless line (broken, or hostile) fills the client's memory, and copies its buffer once per
chunk read on the way. :func:`bounded_stdio_client` is the same transport (the subprocess in a session of its
own with the SDK's safe default environment, one JSON-RPC message per line, the stdio shutdown sequence of the
MCP specification: close stdin, wait, terminate, kill) that reads bytes, splits them once, and ends the session
as soon as a message grows past ``max_message_bytes``: pending requests then fail with the session's "connection
closed" error, and ``on_overflow`` is told why first. An answer the SDK cannot parse (nested deeper than its JSON
parser allows, say) fails the request it names at once (:func:`unreadable`) instead of leaving it to time out.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, TextIO

import anyio
from anyio.abc import Process

if TYPE_CHECKING:
    from mcp import StdioServerParameters

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 2**20  # one JSON-RPC message a stdio server writes (a tool result, a tool list)
STOP_SECONDS = 2.0  # after stdin closes, and again after SIGTERM, before the next step of the shutdown
POLL_SECONDS = 0.05  # between looks at whether a stopped server's helpers have exited
SCAN_BYTES = 65_536  # of an unparsable message, read for the request id it answers
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')  # a JSON string or bracket
_ID = re.compile(rb'\s*:\s*(-?[0-9]+|"(?:[^"\\]|\\.)*")\s*[,}]')  # after a key: an id's value
_COLON = re.compile(rb"\s*:")


def overflow_text(server: str, limit: int) -> str:
    """Why a session ended: server ``server`` wrote a message longer than ``limit`` bytes."""
    return (f"MCP server {server!r} wrote a message longer than {limit:,} bytes (max_message_bytes); the session "
            "was closed: raise MCPServer(max_message_bytes=...) if its answers are really that large")


def answered_id(line: bytes) -> int | str | None:
    """The id of the request that JSON-RPC message ``line`` answers, read without parsing the whole message: within
    its first ``SCAN_BYTES`` bytes, a top-level ``"id"``, a top-level ``"result"`` or ``"error"`` and no top-level
    ``"method"`` (the server's own requests and notifications answer none of ours); else None."""
    if not line.lstrip().startswith(b"{"):
        return None
    depth, response = 0, False
    found: int | str | None = None
    for token in _TOKEN.finditer(line, 0, SCAN_BYTES):
        text = token.group()
        if text in (b"{", b"["):
            depth += 1
        elif text in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and _COLON.match(line, token.end()):  # a key of the message itself
            if text == b'"method"':
                return None
            if text == b'"id"':
                value = _ID.match(line, token.end())
                if value is None:
                    return None
                found = json.loads(value.group(1))  # an int, or a str
            response = response or text in (b'"result"', b'"error"')
    return found if response else None


def unreadable(line: bytes, exc: Exception) -> Any:
    """What the session is given for a message it cannot parse: an error answering the request the message names
    (see :func:`answered_id`), which fails that call at once with the parser's reason; else ``exc`` (as the SDK's
    own reader does, the session logs it)."""
    from mcp import types
    from mcp.shared.message import SessionMessage

    try:
        request = answered_id(line)
    except ValueError:  # an id that is no valid JSON string
        request = None
    if request is None:
        return exc
    errors = getattr(exc, "errors", None)
    first = errors(include_url=False, include_input=False)[0] if callable(errors) else None
    reason = first["msg"] if isinstance(first, dict) and "msg" in first else f"{type(exc).__name__}: {exc}"
    error = types.ErrorData(code=types.PARSE_ERROR, message=f"its answer could not be read ({reason[:300]})")
    return SessionMessage(types.JSONRPCMessage(types.JSONRPCError(jsonrpc="2.0", id=request, error=error)))


class MessageLines:
    """Splits a server's output into its messages (one a line), refusing a message longer than ``limit`` bytes.

    The buffer is split once per chunk that ends a message, so reading costs time linear in the bytes read.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> list[bytes] | None:
        """The messages ``chunk`` completes, blank lines left out; None once a message is longer than the limit."""
        self._pending += chunk
        lines: list[bytearray] = []
        if b"\n" in chunk:
            *lines, rest = self._pending.split(b"\n")
            self._pending = bytearray(rest)
        if len(self._pending) > self.limit or any(len(line) > self.limit for line in lines):
            return None
        return [bytes(line) for line in lines if line.strip()]


@asynccontextmanager
async def bounded_stdio_client(
    params: StdioServerParameters, max_message_bytes: int, errlog: TextIO, on_overflow: Callable[[], None],
) -> AsyncIterator[tuple[Any, Any]]:
    """Start ``params``' server and yield the (read, write) streams a ``ClientSession`` takes (POSIX)."""
    from mcp import types
    from mcp.client.stdio import get_default_environment
    from mcp.shared.message import SessionMessage

    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    env = get_default_environment() if params.env is None else {**get_default_environment(), **params.env}
    try:
        process = await anyio.open_process([params.command, *params.args], env=env, stderr=_file_or_none(errlog),
                                           cwd=params.cwd, start_new_session=True)
    except OSError:
        for stream in (read_stream, write_stream, read_writer, write_reader):
            await stream.aclose()
        raise

    async def deliver(line: bytes) -> None:
        try:
            message: SessionMessage | Exception = SessionMessage(types.JSONRPCMessage.model_validate_json(line))
        except Exception as exc:
            message = unreadable(line, exc)
        await read_writer.send(message)

    async def stdout_reader() -> None:
        assert process.stdout is not None
        lines = MessageLines(max_message_bytes)
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async with read_writer:
                async for chunk in process.stdout:
                    messages = lines.feed(chunk)
                    if messages is None:
                        on_overflow()
                        return  # closing the read stream ends the session
                    for line in messages:
                        await deliver(line)

    async def stdin_writer() -> None:
        assert process.stdin is not None
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async with write_reader:
                async for session_message in write_reader:
                    text = session_message.message.model_dump_json(by_alias=True, exclude_none=True)
                    await process.stdin.send(text.encode("utf-8") + b"\n")

    async with anyio.create_task_group() as tg, process:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            await _stop(process)
            for stream in (read_stream, write_stream, read_writer, write_reader):
                await stream.aclose()


def _file_or_none(stream: TextIO) -> TextIO | None:
    """``stream`` if a subprocess can write to it; else None, the process's own stderr (a notebook's ``sys.stderr``
    is an object with no file descriptor, which the subprocess could not be given)."""
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None
    return stream


async def _stop(process: Process) -> None:
    """The stdio shutdown of the MCP specification: close stdin, wait, then SIGTERM and SIGKILL its session; and
    once the server has exited, what it started in its process group still gets SIGTERM, then SIGKILL."""
    if process.stdin is not None:
        with suppress(Exception):  # already closed, or the server is gone
            await process.stdin.aclose()
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            _signal_group(process.pid, sig)
        with anyio.move_on_after(STOP_SECONDS):
            await process.wait()
            break
    else:
        logger.warning("MCP server process %d did not exit after SIGKILL", process.pid)
        return
    if _signal_group(process.pid, signal.SIGTERM):  # helpers outlive a server that exits on stdin EOF
        for _ in range(int(STOP_SECONDS / POLL_SECONDS)):  # they are not our children: nothing to wait on but this
            await anyio.sleep(POLL_SECONDS)
            if not _signal_group(process.pid, 0):
                return
        _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid`` (the server and whatever it started: its own session); False when
    nobody is left in it (0 only asks)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # none left, or only some we may not signal: nothing more to do
        return False
    return True
