"""What :class:`~llmteam.tools.MCPServer` needs around the SDK's session: bounds on waiting, the relay of what a
server sends, and the reading of results and errors.

The session lives in a task of its own (:meth:`MCPServer.open`); :func:`unwound` waits for that task to end without
cancelling it, so a caller cancelled meanwhile never interrupts the transport's shutdown (the subprocess is still
stopped). :func:`relayed` passes a transport's messages on through a stream the server can cut, and says when the
server ended it, so that later calls fail at once with that reason rather than with the SDK's bare
``ClosedResourceError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mcp.types import CallToolResult

T = TypeVar("T")

_UNWINDING: set[asyncio.Task[None]] = set()  # session tasks ending after whoever waited for them gave up


async def unwound(task: asyncio.Task[None]) -> None:
    """Wait for a session task to end without cancelling it: if our caller is cancelled meanwhile, the task still
    closes its transport (ends its subprocess) on its own, and is kept referenced until it has."""
    _UNWINDING.add(task)
    task.add_done_callback(_UNWINDING.discard)
    await asyncio.wait({task})


async def relayed(stack: AsyncExitStack, read: Any, on_end: Callable[[], None]) -> tuple[Any, Callable[[], None]]:
    """``read`` passed on through a stream of ours, and what cuts that stream (ends the session's read stream,
    failing its pending requests at once: the SDK's HTTP transport reports a failed response to the session but
    keeps the session open, so a call would wait out its timeout). When ``read`` ends, ``on_end()`` is called
    before the session sees the end. The relay runs in a task group entered on ``stack``."""
    import anyio

    send, receive = anyio.create_memory_object_stream[Any](0)

    async def relay() -> None:
        with send, contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for message in read:
                await send.send(message)
            on_end()

    tasks = await stack.enter_async_context(anyio.create_task_group())
    stack.callback(tasks.cancel_scope.cancel)  # unwound first: the relay may be waiting for the next message
    tasks.start_soon(relay)
    return receive, send.close  # the last sender closing ends the session's read stream


def innermost(exc: BaseException) -> BaseException:
    """The error inside the one-member exception groups anyio wraps it in, else ``exc``."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error, looking inside the exception groups anyio raises; a connection the SDK
    found closed (its errors carry no message) is said so."""
    import anyio

    exc = innermost(exc)
    if isinstance(exc, (anyio.ClosedResourceError, anyio.BrokenResourceError)) and not str(exc):
        return f"{type(exc).__name__}: the connection to the server is closed (the server may have exited)"
    return f"{type(exc).__name__}: {exc}"


def result_text(result: CallToolResult) -> str:
    """The text parts of a tool result joined by newlines; other parts named by their type."""
    parts: list[str] = []
    for item in result.content:
        text = getattr(item, "text", None)
        parts.append(text if isinstance(text, str) else f"[{item.type} content]")
    return "\n".join(parts)


def result_value(result: CallToolResult) -> Any:
    """What a successful MCP tool call returns: its structured content when given, else its text."""
    if result.structuredContent is not None:
        return result.structuredContent
    return result_text(result)
