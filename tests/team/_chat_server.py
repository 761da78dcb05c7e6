"""A real local HTTP server speaking OpenAI chat completions, answering with a *dated* model name like OpenAI does."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def chat_server(answer: Callable[[str, str], str], served_model: Callable[[str], str],
                tokens: tuple[int, int] = (100, 20)) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve ``/v1/chat/completions`` on a free loopback port; yields (base_url, requests received).

    ``answer(model, last user message)`` is the reply text; ``served_model(requested)`` the model it reports.
    """
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            prompt = body["messages"][-1]["content"]
            data = json.dumps({
                "id": f"chatcmpl-{len(seen)}", "object": "chat.completion", "model": served_model(body["model"]),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer(body["model"], prompt)},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1],
                          "total_tokens": tokens[0] + tokens[1]},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
