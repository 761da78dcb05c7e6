"""A real MCP server for the test suite, written with the official SDK's FastMCP.

``python mcp_test_server.py stdio`` serves over stdin/stdout; ``python mcp_test_server.py http PORT`` serves
streamable HTTP on 127.0.0.1:PORT at ``/mcp``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("llmteam-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def lookup_invoice(invoice_id: str) -> dict[str, object]:
    """Look up an invoice by id."""
    if invoice_id != "INV-1":
        raise ValueError(f"no invoice {invoice_id!r}")
    return {"invoice_id": "INV-1", "amount": 120.5, "currency": "EUR"}


@server.tool(name="billing.total")
def billing_total(amounts: list[float]) -> float:
    """Sum invoice amounts (its name is not a valid chat-completions tool name)."""
    return sum(amounts)


@server.tool()
def pid() -> int:
    """The server's process id (lets a test check that the subprocess exits)."""
    return os.getpid()


@server.tool()
def env(name: str) -> str:
    """An environment variable of the server process ('' when unset)."""
    return os.environ.get(name, "")


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then answer (for timeout tests)."""
    await asyncio.sleep(seconds)
    return "slept"


@server.tool()
def helper() -> int:
    """Start a helper process in the server's process group; its pid (lets a test check that close ends it)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid


@server.tool()
def text_of(size: int) -> str:
    """``size`` characters of text (for the message bound)."""
    return "x" * size


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.settings.host = "127.0.0.1"
        server.settings.port = int(sys.argv[2])
        server.settings.log_level = "WARNING"
        server.run("streamable-http")
    else:
        server.run("stdio")
