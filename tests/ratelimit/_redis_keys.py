"""What a Redis-backed limit holds on the server, read straight from its keys (not through the backend)."""

from __future__ import annotations

import struct
from typing import Any

from llmteam.ratelimit import RedisRateLimitBackend

# the state hash's field 's': the limit's numbers as little-endian doubles, in this order (lua/acquire.lua)
NUMBERS = struct.Struct("<12d")
NAMES = ("tk", "ts", "ex", "rx", "hc", "le", "ml", "mt", "hl", "ht", "mn", "hn")


async def limit_numbers(client: Any, backend: RedisRateLimitBackend, name: str) -> dict[str, float]:
    """The numbers of limit ``name`` by name (empty when it has no state on the server)."""
    packed = await client.hget(backend.key("rl", name, "state"), "s")
    return {} if packed is None else dict(zip(NAMES, NUMBERS.unpack(packed)))


async def set_limit_number(client: Any, backend: RedisRateLimitBackend, name: str, field: str, value: float) -> None:
    """Overwrite one of limit ``name``'s numbers on the server (as another process's write would)."""
    numbers = await limit_numbers(client, backend, name)
    numbers[field] = value
    await client.hset(backend.key("rl", name, "state"), "s", NUMBERS.pack(*(numbers[n] for n in NAMES)))


async def held_on_server(client: Any, backend: RedisRateLimitBackend, name: str) -> int:
    """The permits limit ``name`` holds on the server: its state hash's ``p:<id>`` fields. Asserts that the count
    the script keeps beside them (``hc``, what decisions read) is the same number."""
    state = await client.hgetall(backend.key("rl", name, "state"))
    held = sum(1 for field in state if field.startswith(b"p:"))
    counted = NUMBERS.unpack(state[b"s"])[NAMES.index("hc")] if b"s" in state else 0
    assert counted == held, state
    return held
