"""MCPServer against a real MCP server subprocess (FastMCP), over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psutil
import pytest

pytest.importorskip("mcp")

from llmteam.tools import MCPError, MCPServer, MCPToolError, Tool, ToolArgumentsError, ToolError

from .._support.serving import serving

SERVER = str(Path(__file__).with_name("mcp_test_server.py"))
RAW = str(Path(__file__).with_name("mcp_raw_server.py"))


def stdio_server(**options: object) -> MCPServer:
    return MCPServer("test", command=sys.executable, args=[SERVER, "stdio"], **options)  # type: ignore[arg-type]


def raw_server(mode: str, **options: object) -> MCPServer:
    """A hostile server speaking raw JSON-RPC over stdio (``mcp_raw_server.py``)."""
    return MCPServer("raw", command=sys.executable, args=[RAW, mode], **options)  # type: ignore[arg-type]


def _live_children() -> set[int]:
    return {c.pid for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, SERVER, "http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60  # hang guard only
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the MCP test server did not start on port {port} (exit {proc.poll()})")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(params=["stdio", "http"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[MCPServer]:
    if request.param == "stdio":
        srv = stdio_server()
    else:
        srv = MCPServer("test", url=request.getfixturevalue("http_url"))
    async with srv:
        yield srv


async def test_lists_the_servers_tools_with_their_input_schema(server: MCPServer) -> None:
    names = {t.name for t in server.tools}
    assert {"add", "echo", "lookup_invoice", "pid", "sleep"} <= names
    add = server.tool("add")
    assert isinstance(add, Tool)
    assert add.description == "Add two integers."
    assert add.parameters["type"] == "object"
    assert set(add.parameters["properties"]) == {"a", "b"}
    assert sorted(add.parameters["required"]) == ["a", "b"]
    assert server.server_info["name"] == "llmteam-test"


async def test_calls_go_through_the_session(server: MCPServer) -> None:
    assert await server.tool("add").invoke({"a": 2, "b": 40}) == {"result": 42}
    assert await server.tool("echo").invoke({"text": "héllo"}) == {"result": "héllo"}
    assert await server.tool("lookup_invoice").invoke({"invoice_id": "INV-1"}) == {
        "invoice_id": "INV-1", "amount": 120.5, "currency": "EUR"}


async def test_a_name_the_model_cannot_use_is_made_safe_and_still_calls_the_server_tool(server: MCPServer) -> None:
    total = server.tool("billing.total")
    assert total.name == "billing_total"
    assert await total.invoke({"amounts": [1.5, 2.5]}) == {"result": 4.0}


async def test_missing_required_arguments_are_refused_before_the_call(server: MCPServer) -> None:
    with pytest.raises(ToolArgumentsError, match=r"missing required argument\(s\) \['b'\]"):
        await server.tool("add").invoke({"a": 1})


async def test_concurrent_calls_on_one_session(server: MCPServer) -> None:
    results = await asyncio.gather(*(server.tool("add").invoke({"a": i, "b": i}) for i in range(10)))
    assert [r["result"] for r in results] == [2 * i for i in range(10)]


async def test_a_tool_that_raises_is_a_clear_tool_error(server: MCPServer) -> None:
    with pytest.raises(MCPToolError, match=r"test:lookup_invoice returned an error: .*no invoice 'INV-9'") as info:
        await server.tool("lookup_invoice").invoke({"invoice_id": "INV-9"})
    assert isinstance(info.value, ToolError)  # the tool loop turns it into a tool-error message
    # the session survives a failed call
    assert await server.tool("add").invoke({"a": 1, "b": 1}) == {"result": 2}


async def test_bad_arguments_are_refused_by_the_server(server: MCPServer) -> None:
    with pytest.raises(MCPToolError, match="test:add returned an error"):
        await server.tool("add").invoke({"a": "not a number", "b": 1})


async def test_an_unknown_tool_names_the_known_ones(server: MCPServer) -> None:
    with pytest.raises(MCPError, match=r"has no tool 'nope' \(tools: .*add"):
        server.tool("nope")
    with pytest.raises(MCPToolError, match="nope"):
        await server.call("nope", {})


async def test_a_slow_call_times_out_as_a_tool_error() -> None:
    async with stdio_server(timeout=0.5) as srv:
        with pytest.raises(MCPToolError, match="test:sleep failed"):
            await srv.tool("sleep").invoke({"seconds": 30})


async def test_include_and_prefix() -> None:
    async with stdio_server(include=["add"], prefix="calc_") as srv:
        assert [t.name for t in srv.tools] == ["calc_add"]
        assert await srv.tool("add").invoke({"a": 1, "b": 2}) == {"result": 3}
    with pytest.raises(MCPError, match=r"has no tool\(s\) \['missing'\]"):
        async with stdio_server(include=["add", "missing"]):
            pass


async def test_close_ends_the_subprocess_and_later_calls_fail_clearly() -> None:
    srv = stdio_server()
    async with srv:
        add = srv.tool("add")
        pid = (await srv.tool("pid").invoke({}))["result"]
        assert psutil.pid_exists(pid)
    assert not srv.is_open and srv.tools == []
    proc_gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert proc_gone, f"MCP server subprocess {pid} still running after close()"
    assert pid not in {c.pid for c in psutil.Process().children(recursive=True)}
    with pytest.raises(MCPToolError, match="is closed"):
        await add.invoke({"a": 1, "b": 2})
    await srv.close()  # idempotent


async def test_the_subprocess_gets_no_secrets_from_our_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_API_KEY", "sk-secret")
    async with stdio_server(env={"GIVEN": "yes"}) as srv:
        assert (await srv.tool("env").invoke({"name": "LLMTEAM_API_KEY"}))["result"] == ""
        assert (await srv.tool("env").invoke({"name": "GIVEN"}))["result"] == "yes"


async def test_a_server_that_cannot_start_is_a_clear_error_and_leaks_nothing() -> None:
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    with pytest.raises(MCPError, match="cannot open MCP server 'broken'"):
        async with MCPServer("broken", command=sys.executable, args=["-c", "import sys; sys.exit(3)"],
                             connect_timeout=20):
            pass
    with pytest.raises(MCPError, match="cannot open MCP server 'down'"):
        async with MCPServer("down", url=f"http://127.0.0.1:{_free_port()}/mcp", connect_timeout=5):
            pass
    live = {c.pid for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE}
    assert live <= before


async def test_a_server_writing_an_endless_line_is_cut_off_at_max_message_bytes() -> None:
    """An attacker's move: a "server" writes 5 MB without a newline and keeps the pipe open. The SDK's reader
    buffered it all (and recopied its buffer per chunk) until connect_timeout; the open now fails at the bound,
    naming it, and leaves no process behind."""
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    flood = "import sys, time; sys.stdout.write('x' * 5_000_000); sys.stdout.flush(); time.sleep(120)"
    with pytest.raises(MCPError, match="wrote a message longer than 1,000,000 bytes"):
        async with MCPServer("flood", command=sys.executable, args=["-c", flood], max_message_bytes=1_000_000,
                             connect_timeout=60):
            pass
    live = {c.pid for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE}
    assert live <= before


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_result_past_max_message_bytes_fails_the_call_and_the_session_clearly(
        transport: str, request: pytest.FixtureRequest) -> None:
    srv = stdio_server(max_message_bytes=200_000) if transport == "stdio" else MCPServer(
        "test", url=request.getfixturevalue("http_url"), max_message_bytes=200_000)
    async with srv:
        text_of = srv.tool("text_of")
        assert len((await text_of.invoke({"size": 60_000}))["result"]) == 60_000
        with pytest.raises(MCPToolError, match="wrote a message longer than 200,000 bytes"):
            await text_of.invoke({"size": 300_000})
        with pytest.raises(MCPToolError, match="close and open the server again"):
            await srv.tool("add").invoke({"a": 1, "b": 2})  # at once, not after the call timeout
    async with srv:  # opened again: a fresh session
        assert (await srv.tool("add").invoke({"a": 1, "b": 2}))["result"] == 3


class _HostileMCP(BaseHTTPRequestHandler):
    """An "MCP server" over HTTP answering every POST with 5 MB in one message: a JSON body in one line or in short
    lines, an SSE event of many short ``data:`` lines; or with a gzip-encoded body."""

    mode = "json"

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind, encoding = "application/json", ""
        if self.mode == "gzip":
            body, encoding = gzip.compress(b"{}"), "gzip"
        elif self.mode == "sse":
            kind, body = "text/event-stream", b"event: message\n" + b"data: xxxxxxxx\n" * 400_000
        else:
            filler = b"\n" if self.mode == "json-lines" else b""
            body = b'{"jsonrpc": "2.0", "id": 0, "result": [' + (b'"xxxxxxxxx",' + filler) * 500_000
        self.send_response(200)
        self.send_header("Content-Type", kind)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("mode", "match"), [
    ("json", "wrote a message longer than 1,000,000 bytes"),
    ("json-lines", "wrote a message longer than 1,000,000 bytes"),
    ("sse", "wrote a message longer than 1,000,000 bytes"),
    ("gzip", "answered with Content-Encoding 'gzip' though asked for none"),
])
async def test_an_http_server_answering_an_endless_message_is_cut_off_at_max_message_bytes(
        mode: str, match: str) -> None:
    """An attacker's move over HTTP: a 5 MB answer to initialize, as one JSON line, as many short lines or as
    one SSE event of many lines (the SDK read each whole, failed to parse it and waited out connect_timeout), or a
    compressed answer whose size the bound could not see."""
    handler = type("Handler", (_HostileMCP,), {"mode": mode})
    with serving(handler) as port, pytest.raises(MCPError, match=match):
        async with MCPServer("hostile", url=f"http://127.0.0.1:{port}/mcp", max_message_bytes=1_000_000,
                             connect_timeout=60):
            pass


class _Proxy(BaseHTTPRequestHandler):
    """A forward HTTP proxy for POST (the request line holds the absolute URL), counting what it relays."""

    relayed: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        target = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
        upstream.request("POST", target.path, body, {k: v for k, v in self.headers.items() if k.lower() != "host"})
        answer = upstream.getresponse()
        data = answer.read()
        self.relayed.append(self.path)
        self.send_response(answer.status)
        for name in ("Content-Type", "Content-Encoding"):
            if answer.getheader(name):
                self.send_header(name, answer.getheader(name) or "")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


async def test_the_http_bound_holds_through_a_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY set, requests go through the proxy and the bound still holds. A bound built as the client's
    own transport made httpx ignore proxies from the environment (the request went straight to the server)."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    _Proxy.relayed.clear()
    with serving(_HostileMCP) as hostile, serving(_Proxy) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy}")
        with pytest.raises(MCPError, match="wrote a message longer than 1,000,000 bytes"):
            async with MCPServer("hostile", url=f"http://127.0.0.1:{hostile}/mcp", max_message_bytes=1_000_000,
                                 connect_timeout=60):
                pass
        assert _Proxy.relayed  # it did go through the proxy


async def test_a_tool_declared_on_a_closed_server_fails_clearly_when_called() -> None:
    srv = stdio_server()
    add = srv.tool("add")
    assert srv.tool("add") is add  # declared once
    with pytest.raises(MCPToolError, match="MCP server 'test' is closed; tool 'add' cannot be called"):
        await add.invoke({"a": 1, "b": 2})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of command"),
        ({"command": "x", "url": "http://h/mcp"}, "exactly one of command"),
        ({"url": "file:///etc/passwd"}, "must be an http"),
        ({"command": "  "}, "non-empty program"),
        ({"command": "x", "args": "a b"}, "list of strings"),
        ({"command": "x", "env": {"A": 1}}, "env must map strings"),
        ({"command": "x", "timeout": 0}, "timeout=0"),
        ({"command": "x", "prefix": "a.b"}, "prefix 'a.b'"),
        ({"command": "x", "max_message_bytes": 0}, "max_message_bytes=0 must be a positive number of bytes"),
        ({"command": "x", "max_message_bytes": True}, "max_message_bytes=True"),
        ({"command": "x", "include": [["a"]]}, r"include \[\['a'\]\] must be a list of tool names"),
        ({"command": "x", "include": [1]}, r"include \[1\] must be a list of tool names"),
        ({"command": "x", "include": "add"}, "include 'add' must be a list of tool names"),
        ({"command": "x", "args": 5}, "args 5 must be a list of strings"),
        ({"command": "x", "env": "A=b"}, "env must map strings to strings"),
        ({"command": "x", "headers": [1]}, "headers must map strings to strings"),
        ({"command": "x", "cwd": 5}, "cwd 5 must be a directory path"),
        ({"command": "x", "connect_timeout": float("nan")}, "connect_timeout=nan"),
    ],
)
def test_bad_configuration_is_refused_with_the_bad_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(MCPError, match=message):
        MCPServer("s", **kwargs)  # type: ignore[arg-type]


def test_bad_server_name() -> None:
    with pytest.raises(MCPError, match="'a b' is not valid"):
        MCPServer("a b", command="x")


# -- MCP tools in a governed team run ---------------------------------------------------------------------------

from llmteam.audit import AuditEventType, AuditQuery  # noqa: E402
from llmteam.llm import ScriptedLLM, ToolCall  # noqa: E402
from llmteam.team import Agent, Team, load_team  # noqa: E402
from llmteam.tools import ToolPolicy  # noqa: E402


def clerk_llm(invoice: str) -> ScriptedLLM:
    return ScriptedLLM({"Look up": ToolCall.of("lookup_invoice", {"invoice_id": invoice}, id="call_1")})


async def audit_of(rt: object, tenant: str = "acme") -> list[object]:
    async with rt.tenants.context(tenant):  # type: ignore[attr-defined]
        assert await rt.audit.verify_chain() == (True, [])  # type: ignore[attr-defined]
        return await rt.audit.query(AuditQuery(limit=50, order_by="sequence_number", order_desc=False))  # type: ignore[attr-defined]


async def test_a_declared_tool_is_described_when_the_runtime_opens_the_server_and_closed_with_it() -> None:
    server = stdio_server()
    lookup = server.tool("lookup_invoice")
    assert lookup.name == "lookup_invoice" and "properties" not in lookup.parameters
    team = Team("billing", llm=clerk_llm("INV-1"), mcp_servers=[server],
                agents=[Agent("clerk", prompt="Look up {invoice}", tools=[lookup])])
    async with team.runtime("memory://", tenant="acme") as rt:
        assert server.is_open
        assert lookup.description == "Look up an invoice by id."
        assert lookup.parameters["required"] == ["invoice_id"]
        pid = (await server.tool("pid").invoke({}))["result"]
        result = await rt.run({"invoice": "INV-1"})
        records = await audit_of(rt)
    assert not server.is_open
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert json.loads(result.output) == {"invoice_id": "INV-1", "amount": 120.5, "currency": "EUR"}
    [call] = result.steps[0].tool_calls
    assert (call.tool, call.call_id, call.decision, call.executed, call.ok) == ("lookup_invoice", "call_1", "allow",
                                                                                True, True)
    done = [r for r in records if r.event_type == AuditEventType.ACTION_COMPLETED]
    assert [r.resource_id for r in done] == ["lookup_invoice"]
    assert "INV-1" not in json.dumps(done[0].metadata)  # digests, not values


async def test_an_mcp_error_result_becomes_a_tool_error_for_the_model_not_a_failed_run() -> None:
    async with stdio_server() as server:
        team = Team("billing", llm=clerk_llm("INV-9"),
                    agents=[Agent("clerk", prompt="Look up {invoice}", tools=server.tools)])
        async with team.runtime("memory://", tenant="acme") as rt:
            result = await rt.run({"invoice": "INV-9"})
            records = await audit_of(rt)
    assert "no invoice 'INV-9'" in result.output
    [call] = result.steps[0].tool_calls
    assert call.executed and not call.ok and "no invoice 'INV-9'" in (call.error or "")
    assert any(r.event_type == AuditEventType.ACTION_FAILED and r.resource_id == "lookup_invoice" for r in records)


async def test_a_tenant_policy_denies_an_mcp_tool_before_the_server_sees_it() -> None:
    async with stdio_server() as server:
        team = Team("billing", llm=clerk_llm("INV-1"),
                    agents=[Agent("clerk", prompt="Look up {invoice}", tools=server.tools)])
        policy = ToolPolicy({"lookup_invoice": "deny"})
        async with team.runtime("memory://", tenant="acme", tool_policy=policy) as rt:
            result = await rt.run({"invoice": "INV-1"})
    [call] = result.steps[0].tool_calls
    assert call.decision == "deny" and not call.executed
    assert "120.5" not in result.output


async def test_a_yaml_team_names_mcp_servers_and_their_tools(tmp_path: Path) -> None:
    team = load_team(f"""
team: billing
llm: {{provider: scripted, default: "no tool"}}
mcp_servers:
  - name: invoices
    command: {json.dumps(sys.executable)}
    args: [{json.dumps(SERVER)}, stdio]
    env: {{GIVEN: "yes"}}
agents:
  - name: clerk
    prompt: "Look up {{invoice}}"
    tools: ["invoices:lookup_invoice", "invoices:billing.total"]
""")
    [server] = team.mcp_servers
    assert server.name == "invoices" and server.env == {"GIVEN": "yes"}
    assert [t.name for t in team.agents[0].tools] == ["lookup_invoice", "billing_total"]
    async with team.runtime("memory://", tenant="acme"):
        assert server.is_open and team.agents[0].tools[0].parameters["required"] == ["invoice_id"]
    assert not server.is_open


async def test_a_runtime_whose_server_lacks_a_named_tool_does_not_open() -> None:
    server = stdio_server()
    team = Team("billing", llm=clerk_llm("INV-1"), mcp_servers=[server],
                agents=[Agent("clerk", prompt="Look up {invoice}", tools=[server.tool("no_such_tool")])])
    rt = team.runtime("memory://", tenant="acme")
    with pytest.raises(MCPError, match=r"has no tool\(s\) \['no_such_tool'\]"):
        await rt.open()
    assert not server.is_open


async def test_calls_to_a_server_that_died_fail_clearly_and_close_then_open_reconnects() -> None:
    srv = stdio_server()
    async with srv:
        pid = (await srv.tool("pid").invoke({}))["result"]
        psutil.Process(pid).kill()
        with pytest.raises(MCPToolError, match="MCP tool test:add failed"):
            await srv.tool("add").invoke({"a": 1, "b": 1})
        await srv.close()
        await srv.open()  # a new subprocess
        assert (await srv.tool("pid").invoke({}))["result"] != pid
        assert await srv.tool("add").invoke({"a": 1, "b": 1}) == {"result": 2}


async def test_a_stdio_server_opens_where_sys_stderr_is_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a notebook sys.stderr is an object without a file descriptor: starting the subprocess with it failed
    ("UnsupportedOperation: fileno"); the server's stderr then goes to the process's own stderr instead."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    async with stdio_server() as srv:
        assert (await srv.tool("add").invoke({"a": 2, "b": 3}))["result"] == 5


# -- hostile servers: bounded, cancellable, and clear --------------------------------------------------------------


async def _cancelled_within(task: asyncio.Task[object], seconds: float) -> bool:
    """True if ``task`` ended cancelled within ``seconds`` (a hang guard only, far above what it needs)."""
    await asyncio.wait({task}, timeout=seconds)
    return task.done() and task.cancelled()


async def test_cancelling_open_cancels_the_connection_at_once_and_leaves_no_process() -> None:
    """An attacker's move: a server that never answers initialize. Cancelling open() cancelled only its wait for
    the session task, which went on connecting until connect_timeout (an hour here) while the caller waited."""
    before = _live_children()
    opening = asyncio.create_task(raw_server("hang_init", connect_timeout=3600).open())
    for _ in range(600):  # until the server runs (hang guard only)
        if _live_children() - before:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # it is waiting for the answer to initialize
    opening.cancel()
    assert await _cancelled_within(opening, 120)
    assert _live_children() <= before


async def test_opening_a_server_that_lists_its_tools_slowly_forever_is_bounded_by_connect_timeout() -> None:
    """Each page came within connect_timeout, so each request was in time and the listing went on for 1,000 pages;
    the whole connection (transport, initialize, listing) is now within connect_timeout."""
    before = _live_children()
    with pytest.raises(MCPError, match=r"cannot open MCP server 'raw' .*did not connect, initialise and list its tools "
                                       r"within connect_timeout=2 s"):
        await asyncio.wait_for(raw_server("slow_pages", connect_timeout=2).open(), 120)  # hang guard only
    assert _live_children() <= before


class _HangsOnNotification(BaseHTTPRequestHandler):
    """An MCP server over HTTP answering its requests but never the POST of a notification (initialized)."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        message = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if "id" not in message:
            self.release.wait(600)
            return
        result: dict[str, object] = {"tools": []}
        if message.get("method") == "initialize":
            result = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                      "serverInfo": {"name": "hangs", "version": "1"}}
        body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_an_http_server_that_never_answers_a_notification_cannot_hold_open_past_connect_timeout() -> None:
    """An attacker's move over HTTP: the SDK sends notifications/initialized inline and waited for its answer up to
    the event-stream read timeout: open(connect_timeout=2) took 300 s."""
    with serving(_HangsOnNotification) as port:
        try:
            server = MCPServer("hangs", url=f"http://127.0.0.1:{port}/mcp", connect_timeout=2)
            with pytest.raises(MCPError, match="within connect_timeout=2 s"):
                await asyncio.wait_for(server.open(), 120)  # hang guard only
            assert not server.is_open
        finally:
            _HangsOnNotification.release.set()  # before the server closes: it joins its request threads


async def test_a_server_that_stops_reading_cannot_hold_a_call_past_its_timeout() -> None:
    """An attacker's move: the server stops reading stdin. The first large call filled the pipe and timed out
    waiting for its answer; the next call waited forever to be sent (timeout= bounded only the wait for answers)."""
    async with raw_server("noread", timeout=1) as srv:
        for _ in range(2):
            with pytest.raises(MCPToolError, match=r"MCP tool raw:x failed: no answer within timeout=1 s"):
                await asyncio.wait_for(srv.tool("x").invoke({"doc": "y" * 1_000_000}), 60)  # hang guard only


async def test_calls_after_a_server_crashed_mid_call_fail_at_once_saying_it_exited() -> None:
    """After a server died in the middle of a call, the next call failed with "ClosedResourceError: " (no text)."""
    async with raw_server("crash_call", timeout=3600) as srv:
        with pytest.raises(MCPToolError, match=r"MCP tool raw:x failed: MCP server 'raw' exited or closed its output"):
            await asyncio.wait_for(srv.tool("x").invoke({}), 60)  # hang guard only
        with pytest.raises(MCPToolError, match=r"MCP server 'raw' exited or closed its output; close and open"):
            await asyncio.wait_for(srv.tool("x").invoke({}), 60)


async def test_an_answer_the_client_cannot_parse_fails_its_call_at_once() -> None:
    """An answer nested deeper than the JSON parser allows was dropped, so its call waited out its whole timeout
    and reported "Timed out"; the answer carries its request id, which fails that call with the parser's reason."""
    async with raw_server("deep", timeout=3600) as srv:
        with pytest.raises(MCPToolError, match=r"MCP tool raw:x failed: its answer could not be read \(Invalid JSON: "
                                               r"recursion limit exceeded"):
            await asyncio.wait_for(srv.tool("x").invoke({}), 60)  # hang guard only


async def test_close_ends_the_helpers_a_stdio_server_started_in_its_process_group() -> None:
    """A server that exits on stdin EOF returned before its process group was signalled: its helpers lived on."""
    async with stdio_server() as srv:
        helper = psutil.Process((await srv.tool("helper").invoke({}))["result"])
        assert helper.is_running()
    gone, _ = psutil.wait_procs([helper], timeout=30)  # hang guard only
    assert gone or helper.status() == psutil.STATUS_ZOMBIE, f"helper {helper.pid} still running after close()"
