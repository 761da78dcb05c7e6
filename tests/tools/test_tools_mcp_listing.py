"""The bounds on an MCP server's tool listing, against a real (hostile) server: pages, tools, and their text."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from llmteam.tools import MCPError, MCPServer
from llmteam.tools._mcp_listing import MAX_LISTED, MAX_NAME_CHARS, MAX_PAGES, MAX_SERVER_TEXT, MAX_TOOL_TEXT, Listing

SERVER = str(Path(__file__).with_name("mcp_listing_server.py"))


def hostile(mode: str, *more: str, **options: object) -> MCPServer:
    return MCPServer("hostile", command=sys.executable, args=[SERVER, mode, *more], **options)  # type: ignore[arg-type]


async def test_a_server_paging_its_tools_forever_is_refused() -> None:
    # an attacker's move: a cursor to a next page, forever; with include= nothing is kept, so the tool cap never
    # ended the listing (the hang guard below would, without the bound)
    with pytest.raises(MCPError, match=f"more than {MAX_PAGES:,} pages"):
        await asyncio.wait_for(hostile("endless", include=["t0"]).open(), 300)


@pytest.mark.parametrize("mode", ["big-tool", "big-schema"])
async def test_a_tool_with_a_huge_description_or_schema_is_refused_by_name(mode: str) -> None:
    # kept whole, it would be sent to the model with every request of every run
    with pytest.raises(MCPError, match=rf"tool 'big' has 10\d,\d\d\d characters .* at most {MAX_TOOL_TEXT:,}"):
        async with hostile(mode):
            pass


async def test_a_server_whose_tools_add_up_past_the_bound_is_refused() -> None:
    # 600 tools of 50,000 characters each: under the tool cap and the per-tool bound, 30 MB kept in all before
    with pytest.raises(MCPError, match=f"past {MAX_SERVER_TEXT:,} characters in all.*include="):
        async with hostile("many"):
            pass


async def test_include_keeps_a_large_servers_tools_within_the_bound() -> None:
    async with hostile("many", include=["t0", "t599"]) as server:
        assert [t.name for t in server.tools] == ["t0", "t599"]
    async with hostile("fair") as server:  # a large honest server opens whole
        assert len(server.tools) == 120 and await server.call("t7", {"x": "y"}) == "called t7"


def test_the_listing_counts_pages_tools_and_text() -> None:
    listing = Listing("s", MCPError)
    listing.page(MAX_LISTED)
    with pytest.raises(MCPError, match="more than 10,000 tools"):
        listing.page(1)
    listing = Listing("s", MCPError)
    for _ in range(MAX_PAGES):
        listing.page(0)
    with pytest.raises(MCPError, match="more than 1,000 pages"):
        listing.page(0)
    listing = Listing("s", MCPError)
    listing.keep("a", "d" * (MAX_TOOL_TEXT - 100), {})  # {} is 2 characters of JSON
    with pytest.raises(MCPError, match="'b' has 65,538 characters"):
        listing.keep("b", "d" * (MAX_TOOL_TEXT - 1), {})
    with pytest.raises(MCPError, match="'" + "n" * 64 + "' has"):  # a long name is cut in the message
        listing.keep("n" * 1000, "d" * MAX_TOOL_TEXT, {})
    for i in range(MAX_SERVER_TEXT // MAX_TOOL_TEXT - 1):  # refused tools were not counted
        listing.keep(f"t{i}", "d" * (MAX_TOOL_TEXT - 100), {})
    with pytest.raises(MCPError, match="past 4,194,304 characters in all"):
        listing.keep("last", "d" * 10_000, {})


async def test_a_tool_with_a_huge_name_is_refused_naming_its_start() -> None:
    # an attacker's move: names were not counted, so 20 tools named with 8 MB each were kept (160 M characters)
    with pytest.raises(MCPError, match=rf"tool 'n{{64}}' has a name of 2,000 characters; at most {MAX_NAME_CHARS:,}") \
            as info:
        async with hostile("long-name"):
            pass
    assert len(str(info.value)) < 500
    async with hostile("long-name", include=["ok"]) as server:  # left out, it is never kept
        assert [t.name for t in server.tools] == ["ok"]


async def test_colliding_names_are_cut_in_the_error() -> None:
    with pytest.raises(MCPError, match=r"tools 'a\.bc{61}' and 'a_bc{61}' both map to the name 'a_bc{61}'") as info:
        async with hostile("collide"):
            pass
    assert len(str(info.value)) < 500


@pytest.mark.parametrize(("schema", "part"), [
    ({"type": "object", "required": 5}, r"'required' is 5, not a list of property names"),
    ({"type": "object", "required": [["q"]]}, r"'required' is \[\['q'\]\], not a list of property names"),
    ({"type": "object", "additionalProperties": False, "properties": 7}, r"'properties' is 7, not an object"),
    ({"type": "array"}, r"'type' is 'array', not 'object'"),
])
async def test_a_tool_with_a_malformed_input_schema_is_refused_at_open(schema: dict[str, object],
                                                                       part: str) -> None:
    # an attacker's move: validating a call against such a schema raised a TypeError that ended the whole run
    with pytest.raises(MCPError, match=rf"MCP server 'hostile': tool 'lookup' has an inputSchema whose {part}"):
        async with hostile("schema", json.dumps(schema)):
            pass


def test_names_count_towards_the_text_kept() -> None:
    listing = Listing("s", MCPError)
    listing.keep("n" * MAX_NAME_CHARS, "d" * (MAX_TOOL_TEXT - MAX_NAME_CHARS - 2), {})  # exactly at the bound
    with pytest.raises(MCPError, match="'nn+' has 65,537 characters of name, description and input schema"):
        listing.keep("n" * MAX_NAME_CHARS, "d" * (MAX_TOOL_TEXT - MAX_NAME_CHARS - 1), {})
    with pytest.raises(MCPError, match=f"a name of {MAX_NAME_CHARS + 1:,} characters"):
        listing.keep("n" * (MAX_NAME_CHARS + 1), "", {})
    assert listing.text == MAX_TOOL_TEXT
