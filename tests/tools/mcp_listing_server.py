"""A hostile MCP server over stdio for the tool-listing bounds, written with the official SDK's low-level Server.

``python mcp_listing_server.py MODE``:
- ``endless``: every page lists one tool (``t0``, ``t1``, ...) and a cursor to the next page, forever;
- ``big-tool``: one tool whose description has 100,000 characters;
- ``big-schema``: one tool whose input schema has 100,000 characters of property descriptions;
- ``many``: 600 tools of 50,000 characters of description each, ten to a page (30 MB in all);
- ``fair``: 120 tools of 2,000 characters each, ten to a page (what a large honest server lists);
- ``long-name``: a tool whose name has 2,000 characters, and a tool ``ok``;
- ``collide``: two tools of 1,000-character names that map to the same tool name for the model;
- ``schema SCHEMA``: one tool ``lookup`` whose input schema is the JSON ``SCHEMA`` (malformed, say).
"""

from __future__ import annotations

import json
import sys

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

MODE = sys.argv[1]
server: Server = Server("llmteam-listing-test")

OBJECT = {"type": "object", "properties": {"x": {"type": "string"}}}


def _tool(name: str, description: str = "a tool", schema: dict[str, object] | None = None) -> types.Tool:
    return types.Tool(name=name, description=description, inputSchema=schema or OBJECT)


def _page(cursor: str | None) -> types.ListToolsResult:
    start = int(cursor or 0)
    if MODE == "endless":
        return types.ListToolsResult(tools=[_tool(f"t{start}")], nextCursor=str(start + 1))
    if MODE == "big-tool":
        return types.ListToolsResult(tools=[_tool("big", "d" * 100_000)])
    if MODE == "long-name":
        return types.ListToolsResult(tools=[_tool("n" * 2_000), _tool("ok")])
    if MODE == "collide":
        return types.ListToolsResult(tools=[_tool("a.b" + "c" * 997), _tool("a_b" + "c" * 997)])
    if MODE == "schema":
        return types.ListToolsResult(tools=[_tool("lookup", schema=json.loads(sys.argv[2]))])
    if MODE == "big-schema":
        schema = {"type": "object", "properties": {"x": {"type": "string", "description": "s" * 100_000}}}
        return types.ListToolsResult(tools=[_tool("big", schema=schema)])
    total, size = (600, 50_000) if MODE == "many" else (120, 2_000)
    tools = [_tool(f"t{i}", "d" * size) for i in range(start, min(start + 10, total))]
    return types.ListToolsResult(tools=tools, nextCursor=str(start + 10) if start + 10 < total else None)


@server.list_tools()
async def list_tools(request: types.ListToolsRequest) -> types.ListToolsResult:
    return _page(request.params.cursor if request.params else None)


@server.call_tool()
async def call_tool(name: str, arguments: dict[str, object]) -> list[types.TextContent]:
    return [types.TextContent(type="text", text=f"called {name}")]


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
