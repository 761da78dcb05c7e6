"""The helpers around the MCP session: waiting for its task without cancelling it, and naming its errors."""

from __future__ import annotations

import asyncio

import anyio

from llmteam.tools._mcp_session import describe, unwound


async def test_a_cancelled_waiter_never_interrupts_the_session_task_shutting_down() -> None:
    """Cancelling close() (or a cancelled open()) must not cut the transport's shutdown short: the subprocess
    would be left running. The waiter gives up; the task still finishes its cleanup."""
    cleaned = asyncio.Event()

    async def session() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.05)  # the shutdown takes a moment (stdin closed, SIGTERM, ...)
            cleaned.set()

    task = asyncio.create_task(session())
    await asyncio.sleep(0)
    task.cancel()
    waiter = asyncio.create_task(unwound(task))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.wait({waiter})
    assert waiter.cancelled()
    await asyncio.wait_for(cleaned.wait(), 60)  # hang guard only
    await asyncio.wait({task})
    assert task.cancelled()


def test_describe_names_a_closed_connection() -> None:
    """The SDK's ClosedResourceError has no message: "MCP tool s:x failed: ClosedResourceError: " said nothing."""
    assert describe(anyio.ClosedResourceError()) == ("ClosedResourceError: the connection to the server is closed "
                                                    "(the server may have exited)")
    assert describe(ValueError("bad")) == "ValueError: bad"
