"""Hostile-input guard (pure ASGI): bounded bodies, allowed content types, bounded JSON nesting, security headers.

It runs before routing, so a refused request reaches no handler and writes nothing. Bodies are read up to
``max_body`` bytes (whatever ``Content-Length`` claims) and replayed to the app after the checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llmteam.server._problems import problem_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded",)
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """True when ``body`` nests arrays/objects deeper than ``max_depth`` (strings are skipped, escapes honoured)."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1")).split(";", 1)[0].strip().lower()
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


class GuardMiddleware:
    """Refuse oversized (413), wrongly typed (415) and too deeply nested (400) request bodies."""

    def __init__(self, app: ASGIApp, *, max_body: int = 1 << 20, max_depth: int = 32) -> None:
        self.app = app
        self.max_body = max_body
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(send)
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        declared = _content_length(scope)
        if declared is not None and declared < 0:
            await self._refuse(scope, receive, send, 400, "the Content-Length header is not a byte count")
            return
        if declared is not None and declared > self.max_body:
            await self._refuse(scope, receive, send, 413, f"request body too large ({declared} bytes declared); "
                               f"the limit is {self.max_body} bytes")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._refuse(scope, receive, send, 413, f"request body too large (over {self.max_body} "
                                   "bytes); send less")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        media = _media_type(scope)
        allowed = FORM_TYPES if path.startswith("/ui/") else JSON_TYPES
        if body or media:
            if media not in allowed:
                await self._refuse(scope, receive, send, 415, f"content type {media[:80]!r} is not accepted here; "
                                   f"send {' or '.join(allowed)}")
                return
            if media in JSON_TYPES and json_depth_exceeds(body, self.max_depth):
                await self._refuse(scope, receive, send, 400, f"JSON nested deeper than {self.max_depth} levels; "
                                   "flatten the document")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                                    (b"x-frame-options", b"DENY")):
                    if name not in names:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        return wrapped

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        response = problem_response(status, detail, headers={"Connection": "close"})
        await response(scope, receive, send)
