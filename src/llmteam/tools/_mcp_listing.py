"""Bounds on what listing an MCP server's tools may make us keep: pages, tools, and each tool's text.

A server lists its tools page by page (``tools/list`` with a cursor). Each message is bounded already
(``max_message_bytes``), but a server could answer with pages forever, or give each tool a description or an
input schema of megabytes, kept for as long as the server is open and sent to the model with every request of
every run. :class:`Listing` counts what one listing gave and raises, naming the bound, past any bound below.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MAX_LISTED", "MAX_PAGES", "MAX_SERVER_TEXT", "MAX_TOOL_TEXT", "Listing"]

MAX_PAGES = 1_000  # pages of one listing
MAX_LISTED = 10_000  # tools listed in all, kept or not (``include`` leaves some out)
MAX_TOOL_TEXT = 65_536  # characters of one kept tool's description and input schema (as JSON) together
MAX_SERVER_TEXT = 4 * 1024 * 1024  # characters of every kept tool's description and input schema together


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
        """Count the text of one tool to keep: its description and its input schema."""
        size = len(description) + len(json.dumps(schema, ensure_ascii=False, separators=(",", ":"), default=str))
        if size > MAX_TOOL_TEXT:
            raise self.error(f"MCP server {self.server!r}: tool {tool[:64]!r} has {size:,} characters of description "
                             f"and input schema, and at most {MAX_TOOL_TEXT:,} are kept per tool (they are sent to the "
                             "model with every request); leave it out with include=[...]")
        self.text += size
        if self.text > MAX_SERVER_TEXT:
            raise self.error(f"MCP server {self.server!r}: its tools' descriptions and input schemas add up past "
                             f"{MAX_SERVER_TEXT:,} characters in all; keep the tools the team uses with "
                             "include=[...]")
