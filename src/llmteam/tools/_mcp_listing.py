"""Bounds on what listing an MCP server's tools may make us keep: pages, tools, and each tool's text.

A server lists its tools page by page (``tools/list`` with a cursor). Each message is bounded already
(``max_message_bytes``), but a server could answer with pages forever, or give each tool a name, a description or
an input schema of megabytes, kept for as long as the server is open and sent to the model with every request of
every run. :class:`Listing` counts what one listing gave and raises, naming the bound, past any bound below.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MAX_LISTED", "MAX_NAME_CHARS", "MAX_PAGES", "MAX_SERVER_TEXT", "MAX_TOOL_TEXT", "Listing", "cut"]

MAX_PAGES = 1_000  # pages of one listing
MAX_LISTED = 10_000  # tools listed in all, kept or not (``include`` leaves some out)
MAX_NAME_CHARS = 1_024  # characters of one kept tool's name on the server
MAX_TOOL_TEXT = 65_536  # characters of one kept tool's name, description and input schema (as JSON) together
MAX_SERVER_TEXT = 4 * 1024 * 1024  # characters of every kept tool's name, description and input schema together
SHOWN_CHARS = 64  # characters of a server's tool name quoted in an error


def cut(name: str) -> str:
    """A server's tool name as an error message quotes it: its first characters only."""
    return repr(name[:SHOWN_CHARS])


class Listing:
    """What one listing of server ``server``'s tools has given so far; past a bound, ``error(why)`` is raised."""

    __slots__ = ("error", "listed", "pages", "server", "text")

    def __init__(self, server: str, error: Callable[[str], Exception]) -> None:
        self.server = server
        self.error = error
        self.pages = self.listed = self.text = 0

    def page(self, tools: int) -> None:
        """Count one more page, listing ``tools`` tools."""
        self.pages += 1
        self.listed += tools
        if self.pages > MAX_PAGES:
            raise self.error(f"MCP server {self.server!r} answered more than {MAX_PAGES:,} pages of tools and was "
                             "still not done; it is refused")
        if self.listed > MAX_LISTED:
            raise self.error(f"MCP server {self.server!r} lists more than {MAX_LISTED:,} tools; it is refused")

    def keep(self, tool: str, description: str, schema: Mapping[str, Any]) -> None:
        """Count the text of one tool to keep: its name, its description and its input schema."""
        if len(tool) > MAX_NAME_CHARS:
            raise self.error(f"MCP server {self.server!r}: tool {cut(tool)} has a name of {len(tool):,} characters; at "
                             f"most {MAX_NAME_CHARS:,} are kept; leave it out with include=[...]")
        size = len(tool) + len(description) + len(json.dumps(schema, ensure_ascii=False, separators=(",", ":"),
                                                             default=str))
        if size > MAX_TOOL_TEXT:
            raise self.error(f"MCP server {self.server!r}: tool {cut(tool)} has {size:,} characters of name, "
                             f"description and input schema, and at most {MAX_TOOL_TEXT:,} are kept per tool (they "
                             "are sent to the model with every request); leave it out with include=[...]")
        self.text += size
        if self.text > MAX_SERVER_TEXT:
            raise self.error(f"MCP server {self.server!r}: its tools' names, descriptions and input schemas add up "
                             f"past {MAX_SERVER_TEXT:,} characters in all; keep the tools the team uses with "
                             "include=[...]")
