"""A hostile MCP server over stdio speaking raw JSON-RPC (one message a line), for what the SDK would not let a
server do. ``python mcp_raw_server.py MODE``:

- ``hang_init``: never answers ``initialize``;
- ``slow_pages``: lists one tool a page, each page a little late, and always a cursor to the next page;
- ``noread``: after listing its tools, never reads its stdin again (a writer to it blocks once the pipe is full);
- ``crash_call``: exits in the middle of a tool call;
- ``deep``: answers a tool call with structured content nested deeper than the client's JSON parser allows.
"""

from __future__ import annotations

import json
import os
import sys
import time

MODE = sys.argv[1]
TOOL = {"name": "x", "inputSchema": {"type": "object"}}


def send(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def answer(mid: object, result: dict[str, object]) -> None:
    send({"jsonrpc": "2.0", "id": mid, "result": result})


for line in sys.stdin:
    if not line.strip():
        continue
    message = json.loads(line)
    mid, method = message.get("id"), message.get("method")
    if mid is None:  # a notification
        continue
    if method == "initialize":
        if MODE == "hang_init":
            time.sleep(3600)
        answer(mid, {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                     "serverInfo": {"name": "raw", "version": "1"}})
    elif method == "tools/list":
        if MODE == "slow_pages":
            page = int((message.get("params") or {}).get("cursor") or 0)
            time.sleep(0.2)
            answer(mid, {"tools": [{**TOOL, "name": f"t{page}"}], "nextCursor": str(page + 1)})
            continue
        answer(mid, {"tools": [TOOL]})
        if MODE == "noread":
            time.sleep(3600)
    elif method == "tools/call":
        if MODE == "crash_call":
            os._exit(3)
        if MODE == "deep":
            depth = 10_000
            sys.stdout.write(f'{{"jsonrpc": "2.0", "id": {json.dumps(mid)}, "result": {{"content": [], '
                             f'"structuredContent": {{"a": {"[" * depth}{"]" * depth}}}}}}}\n')
            sys.stdout.flush()
            continue
        answer(mid, {"content": [{"type": "text", "text": "ok"}]})
    else:
        answer(mid, {})
