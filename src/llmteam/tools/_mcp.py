"""``MCPServer``: a Model Context Protocol server's tools as governed :class:`~llmteam.tools.Tool` objects.

One ``MCPServer`` owns one client session with the official ``mcp`` SDK (extra ``mcp``), over stdio (a subprocess
started from ``command``) or streamable HTTP (``url``). Opening it initialises the session and lists the server's
tools; each becomes a ``Tool`` whose JSON Schema is the server's ``inputSchema`` and whose invocation is the
session's ``call_tool``, so MCP tools pass the same policy, audit and rate limits as Python tools. An MCP error
result raises :class:`MCPToolError` (which the tool loop turns into a tool-error message for the model).

Open and close an ``MCPServer`` in the same task (``async with``): the SDK's transports are anyio task groups.
A stdio server gets only the SDK's safe default environment (PATH, HOME, ...) plus ``env``: no secrets leak
into it by accident; closing ends the subprocess (stdin closed, then terminate, then kill). Every message a
server sends is bounded (``max_message_bytes``): over stdio by :mod:`llmteam.tools._mcp_stdio`, over HTTP by
:mod:`llmteam.tools._mcp_http`; what its tool listing may make us keep, by :mod:`llmteam.tools._mcp_listing`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from llmteam._deadline import within
from llmteam._repr import bounded_repr
from llmteam.tools._errors import ToolError
from llmteam.tools._mcp_listing import Listing, cut
from llmteam.tools._mcp_session import describe, innermost, relayed, result_text, result_value, unwound
from llmteam.tools._mcp_stdio import MAX_MESSAGE_BYTES, bounded_stdio_client, overflow_text
from llmteam.tools._tool import NAME_RE as TOOL_NAME_RE
from llmteam.tools._tool import Tool, schema_problem

if TYPE_CHECKING:
    from mcp import ClientSession

logger = logging.getLogger(__name__)

SERVER_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
MAX_TOOLS = 1000  # a server listing more tools than this is refused rather than buffered without bound
MAX_ERROR_CHARS = 2000
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
SSE_READ_TIMEOUT = 300.0
_SDK_TIMED_OUT = 408  # the error code the SDK gives a request whose answer did not come in time (REQUEST_TIMEOUT)


class MCPError(ToolError):
    """An MCP server could not be configured, reached or used."""


class MCPToolError(MCPError):
    """An MCP tool call failed: the server answered with an error result or the call itself failed."""


def _check_positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise MCPError(f"{what}={value!r} must be a positive number of seconds")
    return float(value)


def _strings(values: Any) -> bool:
    """``values`` is a list (or other sequence, or the keys of a mapping) of strings, and not a string itself."""
    return (isinstance(values, (Sequence, Mapping)) and not isinstance(values, (str, bytes))
            and all(isinstance(v, str) for v in values))


class MCPServer:
    """One MCP server, opened as an async context manager; its tools are in :attr:`tools` once open.

    Give ``command`` (and ``args``, ``env``, ``cwd``) to start a stdio server as a subprocess, or ``url`` for a
    streamable-HTTP server (``headers`` are sent with every request). ``include`` keeps only the named tools;
    ``prefix`` is put before each tool's name (to keep two servers' tools apart); ``timeout`` bounds each call
    (sending it included); ``connect_timeout`` bounds opening (connecting, initialising and listing the tools);
    ``max_message_bytes`` bounds each message the server sends (past it the session ends).
    """

    def __init__(
        self,
        name: str,
        *,
        command: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        include: Iterable[str] | None = None,
        prefix: str = "",
        timeout: float = 60.0,
        connect_timeout: float = 30.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        if not isinstance(name, str) or not SERVER_NAME_RE.fullmatch(name):
            raise MCPError(f"MCP server name {name!r} is not valid; use 1-63 letters, digits, '_' or '-'")
        if (command is None) == (url is None):
            raise MCPError(f"MCP server {name!r}: give exactly one of command= (stdio) or url= (streamable HTTP)")
        if command is not None and (not isinstance(command, str) or not command.strip()):
            raise MCPError(f"MCP server {name!r}: command {command!r} must be a non-empty program name or path")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise MCPError(f"MCP server {name!r}: url {url!r} must be an http(s) URL such as http://127.0.0.1:8000/mcp")
        if not _strings(args):
            raise MCPError(f"MCP server {name!r}: args {bounded_repr(args)} must be a list of strings")
        for what, mapping in (("env", env), ("headers", headers)):
            if mapping is not None and not (isinstance(mapping, Mapping) and _strings(mapping)
                                            and _strings(list(mapping.values()))):
                raise MCPError(f"MCP server {name!r}: {what} must map strings to strings, got {bounded_repr(mapping)}")
        if cwd is not None and not isinstance(cwd, (str, os.PathLike)):
            raise MCPError(f"MCP server {name!r}: cwd {bounded_repr(cwd)} must be a directory path")
        names = list(include) if isinstance(include, Iterable) and not isinstance(include, (str, bytes)) else include
        if names is not None and not _strings(names):
            raise MCPError(f"MCP server {name!r}: include {bounded_repr(include)} must be a list of tool names "
                           "(strings)")
        self.name = name
        self.command = command
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.cwd = None if cwd is None else os.fspath(cwd)
        self.url = url
        self.headers = dict(headers or {})
        self.include = None if names is None else frozenset(names)
        if not isinstance(prefix, str) or (prefix and not TOOL_NAME_RE.fullmatch(prefix)):
            raise MCPError(f"MCP server {name!r}: prefix {prefix!r} must be letters, digits, '_' or '-'")
        self.prefix = prefix
        self.timeout = _check_positive(timeout, f"MCP server {name!r}: timeout")
        self.connect_timeout = _check_positive(connect_timeout, f"MCP server {name!r}: connect_timeout")
        if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int) or max_message_bytes < 1:
            raise MCPError(f"MCP server {name!r}: max_message_bytes={max_message_bytes!r} must be a positive number "
                           f"of bytes (default {MAX_MESSAGE_BYTES:,})")
        self.max_message_bytes = max_message_bytes
        self._ended = ""  # why the session ended, when it was our doing (a message past max_message_bytes)
        self._cut: Callable[[], None] | None = None  # ends an HTTP session's read stream
        self.tools: list[Tool] = []
        self._declared: dict[str, Tool] = {}
        self.server_info: dict[str, Any] = {}
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else f"command={self.command!r}"
        return f"MCPServer({self.name!r}, {where}, open={self.is_open})"

    @property
    def is_open(self) -> bool:
        """True between a successful :meth:`open` and :meth:`close`."""
        return self._task is not None and self._session is not None

    def tool(self, name: str) -> Tool:
        """The server's tool ``name`` (its name on the server, without the prefix).

        Before the server is open this declares the tool: the returned ``Tool`` gets its description and schema
        when the server opens (which fails if the server has no such tool), so a team can be defined before its
        runtime opens the server. On an open server an unknown name is an MCPError naming the known ones.
        """
        if not self.is_open:
            if name not in self._declared:
                if len(self._declared) >= MAX_TOOLS:
                    raise MCPError(f"MCP server {self.name!r}: more than {MAX_TOOLS} tools declared")
                self._declared[name] = self._make_tool(self.local_name(name), name, "", {"type": "object"})
            return self._declared[name]
        local = self.local_name(name)
        for tool in self.tools:
            if tool.name == local:
                return tool
        known = ", ".join(t.name for t in self.tools) or "none"
        raise MCPError(f"MCP server {self.name!r} has no tool {name!r} (tools: {known})")

    # -- lifecycle ---------------------------------------------------------------------------------
    async def open(self) -> MCPServer:
        """Start or connect to the server, initialise the session and list its tools (idempotent), all within
        ``connect_timeout``; cancelling ``open`` ends the connection at once.

        The session lives in a task of its own, so ``open`` and ``close`` may be awaited from different tasks.
        """
        if self._task is not None and not self._task.done():
            return self
        try:
            import mcp  # noqa: F401
        except ImportError:
            raise MCPError("MCP support needs the 'mcp' package: pip install 'llmteam[mcp]'") from None
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._ended, self._cut = "", None
        task = asyncio.create_task(self._serve(ready), name=f"mcp-server-{self.name}")
        try:
            await asyncio.wait({ready}, timeout=self.connect_timeout)  # cancelling this wait leaves `ready` alone
            if not ready.done():
                raise MCPError(f"cannot open MCP server {self.name!r} ({self._where()}): it did not connect, "
                               f"initialise and list its tools within connect_timeout={self.connect_timeout:g} s")
            ready.result()  # the opening's own error, if it failed
        except BaseException:  # failed, timed out or cancelled: end the connection now
            self._stop.set()
            task.cancel()
            await unwound(task)
            if not ready.cancelled():
                ready.exception()  # retrieved: ended by us, it may hold "stopped before it was ready"
            raise
        self._task = task
        logger.info("opened MCP server %r with %d tools", self.name, len(self.tools))
        return self

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        from mcp import ClientSession

        try:
            async with AsyncExitStack() as stack:
                read, write = await self._transport(stack)
                session = await stack.enter_async_context(
                    ClientSession(read, write, read_timeout_seconds=timedelta(seconds=self.connect_timeout))
                )
                init = await session.initialize()
                self.server_info = {"name": init.serverInfo.name, "version": init.serverInfo.version,
                                    "protocol_version": str(init.protocolVersion)}
                self.tools = await self._list_tools(session)
                self._session = session
                ready.set_result(None)
                await self._stop.wait()
        except Exception as exc:
            if ready.done():
                logger.error("MCP server %r ended: %s: %s", self.name, type(exc).__name__, exc)
                return
            cause = innermost(exc)
            if isinstance(cause, MCPError):  # ours (a listing bound, a refused tool): as it is
                ready.set_exception(cause)
                return
            error = MCPError(f"cannot open MCP server {self.name!r} ({self._where()}): {self._failure(exc)}")
            error.__cause__ = exc
            ready.set_exception(error)
        finally:
            self._session = None
            if not ready.done():  # ended by something other than an error (a cancellation): never leave open() waiting
                ready.set_exception(MCPError(f"MCP server {self.name!r} stopped before it was ready"))

    async def _transport(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        if self.url is not None:
            import httpx
            from mcp.client.streamable_http import streamable_http_client

            from llmteam.tools._mcp_http import end_session, message_bound

            # the read timeout covers the server's long-lived event stream; each call has its own (self.timeout)
            timeout = httpx.Timeout(self.connect_timeout, read=max(SSE_READ_TIMEOUT, self.timeout))
            hooks = message_bound(self.max_message_bytes, self._overflowed)
            client = await stack.enter_async_context(
                httpx.AsyncClient(headers=self.headers, timeout=timeout, event_hooks=hooks))
            read, write, session_id = await stack.enter_async_context(
                streamable_http_client(self.url, http_client=client, terminate_on_close=False))
            # our DELETE, bounded (the SDK's waited up to the event stream's read timeout), where the SDK sent its own
            stack.push_async_callback(end_session, self, client, session_id)
            return await self._relayed(stack, read, "closed the connection"), write
        from mcp import StdioServerParameters

        assert self.command is not None
        params = StdioServerParameters(command=self.command, args=self.args, env=self.env, cwd=self.cwd)
        if sys.platform == "win32":  # pragma: no cover - the SDK's own transport (its messages are not bounded)
            from mcp.client.stdio import stdio_client

            read, write = await stack.enter_async_context(stdio_client(params, errlog=sys.stderr))
        else:
            read, write = await stack.enter_async_context(
                bounded_stdio_client(params, self.max_message_bytes, sys.stderr, self._overflowed))
        return await self._relayed(stack, read, "exited or closed its output"), write

    async def _relayed(self, stack: AsyncExitStack, read: Any, gone: str) -> Any:
        """``read`` through a relay this server can cut (:meth:`_overflowed`); when it ends (the server ``gone``),
        the session is marked ended first, so later calls fail at once saying so."""

        def ended() -> None:
            self._ended = self._ended or f"MCP server {self.name!r} {gone}"

        receive, self._cut = await relayed(stack, read, ended)
        return receive

    def _overflowed(self) -> None:
        """A message past ``max_message_bytes``: note why and end the session (pending calls fail at once)."""
        self._ended = overflow_text(self.name, self.max_message_bytes)
        logger.error("%s", self._ended)
        if self._cut is not None:
            self._cut()

    def _failure(self, exc: BaseException) -> str:
        """What went wrong, for an error message: why the session ended when we know it, else the error itself."""
        return self._ended or describe(exc)

    def _where(self) -> str:
        return self.url or " ".join([self.command or "", *self.args])

    async def _list_tools(self, session: ClientSession) -> list[Tool]:
        tools: list[Tool] = []
        seen: dict[str, str] = {}
        cursor: str | None = None
        listing = Listing(self.name, MCPError)  # pages, tools and their text, bounded (llmteam.tools._mcp_listing)
        while True:
            page = await session.list_tools(cursor=cursor) if cursor else await session.list_tools()
            listing.page(len(page.tools))
            for spec in page.tools:
                if self.include is None or spec.name in self.include or spec.name in self._declared:
                    description, schema = spec.description or "", dict(spec.inputSchema)
                    listing.keep(spec.name, description, schema)
                    local = self.local_name(spec.name)
                    if local in seen:
                        raise MCPError(f"MCP server {self.name!r}: tools {cut(seen[local])} and {cut(spec.name)} both "
                                       f"map to the name {local!r}; pass include=[...] to pick one")
                    seen[local] = spec.name
                    tools.append(self._make_tool(local, spec.name, description, schema))
            if len(tools) > MAX_TOOLS:
                raise MCPError(f"MCP server {self.name!r} lists more than {MAX_TOOLS} tools; pass include=[...]")
            cursor = page.nextCursor
            if not cursor:
                break
        missing = sorted(({*(self.include or ()), *self._declared}) - set(seen.values()))
        if missing:
            raise MCPError(f"MCP server {self.name!r} has no tool(s) {missing}; check include= and the tools the "
                           "team names")
        return tools

    def local_name(self, remote: str) -> str:
        """The name the model sees for server tool ``remote``: the prefix plus the name, made a valid tool name."""
        return _UNSAFE.sub("_", f"{self.prefix}{remote}")[:64] or "_"

    def _make_tool(self, local: str, remote: str, description: str, schema: dict[str, Any]) -> Tool:
        problem = schema_problem(schema)
        if problem is not None:  # refused now rather than failing each call (the shape check reads these parts)
            raise MCPError(f"MCP server {self.name!r}: tool {cut(remote)} has an inputSchema whose {problem}; fix the "
                           "server's schema, or leave the tool out with include=[...]")
        description = description or f"MCP tool {remote!r} of server {self.name!r}"
        declared = self._declared.get(remote)
        if declared is not None:  # declared before the server opened: described now, in place
            declared.description, declared.parameters = description, {"type": "object", **schema}
            return declared

        async def call(arguments: Mapping[str, Any]) -> Any:
            return await self.call(remote, arguments)

        return Tool(name=local, description=description, parameters=schema, handler=call)

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        """Call ``tool`` on the server; its value (see :func:`result_value`), or MCPToolError on an error result."""
        session = self._session
        if session is None:
            raise MCPToolError(f"MCP server {self.name!r} is closed; tool {tool!r} cannot be called")
        if self._ended:  # the session is over: fail now rather than wait out the timeout for an answer never read
            raise MCPToolError(f"MCP tool {self.name}:{tool} failed: {self._ended}; close and open the server again")
        from mcp.shared.exceptions import McpError

        failed = f"MCP tool {self.name}:{tool} failed"
        timed_out = (f"{failed}: no answer within timeout={self.timeout:g} s; raise MCPServer(timeout=...) if the "
                     "tool is really that slow")
        try:  # the whole call, sending included: a server that stops reading cannot hold it
            result = await within(session.call_tool(tool, dict(arguments),
                                                     read_timeout_seconds=timedelta(seconds=self.timeout)),
                                   asyncio.get_running_loop().time() + self.timeout)
        except TimeoutError:
            raise MCPToolError(timed_out) from None
        except McpError as exc:
            if exc.error.code == _SDK_TIMED_OUT and not self._ended:  # the SDK's own wait for the answer
                raise MCPToolError(timed_out) from exc
            raise MCPToolError(f"{failed}: {self._ended or exc}"[:MAX_ERROR_CHARS]) from exc
        except Exception as exc:  # the transport broke (server gone): still a tool error, never a crash
            raise MCPToolError(f"{failed}: {self._failure(exc)}"[:MAX_ERROR_CHARS]) from exc
        if result.isError:
            detail = result_text(result) or "no detail given"
            raise MCPToolError(f"MCP tool {self.name}:{tool} returned an error: {detail}"[:MAX_ERROR_CHARS])
        return result_value(result)

    async def close(self) -> None:
        """End the session and the transport (the stdio subprocess exits); idempotent."""
        task, self._task = self._task, None
        self.tools = []
        if task is not None:
            self._stop.set()
            await unwound(task)

    async def __aenter__(self) -> MCPServer:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_servers(servers: Iterable[MCPServer]) -> list[MCPServer]:
    """Open the servers that are not open yet and return them (the caller closes those); all or none."""
    opened: list[MCPServer] = []
    try:
        for server in servers:
            if not server.is_open:
                await server.open()
                opened.append(server)
    except BaseException:
        for server in opened:
            await server.close()
        raise
    return opened
