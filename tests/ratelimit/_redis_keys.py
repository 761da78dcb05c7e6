"""What a Redis-backed limit holds on the server, read straight from its keys (not through the backend)."""

from __future__ import annotations

from typing import Any

from llmteam.ratelimit import RedisRateLimitBackend


async def held_on_server(client: Any, backend: RedisRateLimitBackend, name: str) -> int:
    """The permits limit ``name`` holds on the server: its state hash's ``p:<id>`` fields. Asserts that the count
    the script keeps beside them (``hc``, what decisions read) is the same number."""
    state = await client.hgetall(backend.key("rl", name, "state"))
    held = sum(1 for field in state if field.startswith(b"p:"))
    assert int(state.get(b"hc", 0)) == held, state
    return held
