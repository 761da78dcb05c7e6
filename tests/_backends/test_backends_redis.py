"""Redis helper: a lazily imported client that talks to a real server, seen through the typed protocols."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmteam.backends.redis import RedisClient, RedisConnection, RedisPool, redis_from_url

pytestmark = pytest.mark.redis


async def test_client_round_trip(redis_url: str, unique_name: str) -> None:
    client = redis_from_url(redis_url)
    try:
        await client.set(unique_name, "1", ex=10)  # type: ignore[attr-defined]  # beyond the protocol: the real client
        assert await client.get(unique_name) == b"1"  # type: ignore[attr-defined]
    finally:
        await client.delete(unique_name)  # type: ignore[attr-defined]
        await client.aclose()


def packed(*words: bytes) -> list[bytes]:
    return [b"*%d\r\n" % len(words), *(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)]


async def test_redis_py_provides_what_the_protocols_promise(redis_url: str, unique_name: str) -> None:
    client = redis_from_url(redis_url)
    assert isinstance(client, RedisClient) and isinstance(client.connection_pool, RedisPool)
    pool = client.connection_pool
    conn = await pool.get_connection()
    try:
        assert isinstance(conn, RedisConnection) and conn.is_connected
        await conn.send_packed_command(packed(b"SET", unique_name.encode(), b"v", b"EX", b"10"))
        assert await conn.read_response() == b"OK"
        await conn.send_packed_command(packed(b"DEL", unique_name.encode()))
        assert await conn.read_response() == 1  # an integer reply
        assert isinstance(pool.connection_kwargs.get("socket_timeout"), (float, int, type(None)))
        await conn.disconnect(nowait=True)
        assert not conn.is_connected
        await conn.connect()
        assert conn.is_connected
    finally:
        await pool.release(conn)
        await client.aclose()


def test_the_declared_redis_floor_has_the_connection_api_we_call() -> None:
    """``RedisPool.get_connection()`` is called without a command name, which redis-py accepts from 5.3 on
    (5.0-5.2 require one: the rate limiter would raise TypeError on its first decision). Every requirement on
    redis in pyproject.toml must therefore start at 5.3 or later."""
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    reqs = re.findall(r'"(redis\s*[<>=~!][^"]*)"', text)  # requirement strings, not the pytest marker
    assert reqs
    for req in reqs:
        floor = re.search(r">=\s*([0-9][0-9.]*)", req)
        assert floor is not None, f"{req!r} has no lower bound"
        assert tuple(int(x) for x in floor.group(1).split(".")) >= (5, 3), f"{req!r}: needs redis>=5.3"
