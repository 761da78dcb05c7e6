"""Redis helper: a lazily imported client that talks to a real server."""

from __future__ import annotations

import pytest

from llmteam.backends.redis import redis_from_url

pytestmark = pytest.mark.redis


async def test_client_round_trip(redis_url: str, unique_name: str) -> None:
    client = redis_from_url(redis_url)
    try:
        await client.set(unique_name, "1", ex=10)
        assert await client.get(unique_name) == b"1"
    finally:
        await client.delete(unique_name)
        await client.aclose()
