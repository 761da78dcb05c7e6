"""Redis through ``redis.asyncio`` (imported lazily, extra ``redis``): one client per URL.

The stores see the client through the protocols below: the subset of ``redis.asyncio`` they use, typed
(redis-py's own annotations leave ``get_connection``, ``connect`` and ``is_connected`` untyped). mypy checks that
redis-py's client, pool and connections provide every member (``_conforms`` below); the one ``cast`` in
:func:`redis_from_url` covers only that ``ConnectionPool.release`` is declared for redis-py's own connection
class, which is what the stores give back to it (the connections it handed out).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, Union, cast, runtime_checkable

from llmteam.backends._base import Backend, register_scheme
from llmteam.backends.url import StoreURL

__all__ = [
    "RedisBackend", "RedisClient", "RedisConnection", "RedisErrors", "RedisPool", "RedisReply", "redis_errors",
    "redis_from_url",
]

#: A RESP2 reply as ``redis.asyncio`` returns it without ``decode_responses`` (an error reply is raised instead).
RedisReply = Union[bytes, int, None, Sequence["RedisReply"]]


@runtime_checkable
class RedisConnection(Protocol):
    """One connection of the pool, driven directly (packed commands, one reply each)."""

    socket_timeout: float | None

    @property
    def is_connected(self) -> bool:
        """True while the socket is open."""

    async def connect(self) -> None:
        """Open the socket and run the handshake (AUTH, SELECT...)."""

    async def send_packed_command(self, command: list[bytes], check_health: bool = ...) -> None:
        """Write a command already encoded as RESP."""

    async def read_response(self) -> RedisReply:
        """Read one reply; an error reply raises ``redis.exceptions.ResponseError``."""

    async def disconnect(self, nowait: bool = ...) -> None:
        """Close the socket (``nowait``: without waiting for the close to complete)."""


@runtime_checkable
class RedisPool(Protocol):
    """The client's connection pool."""

    @property
    def connection_kwargs(self) -> Mapping[str, object]:
        """The options every connection is made with (``socket_timeout``...)."""

    async def get_connection(self) -> RedisConnection:
        """Check a connected connection out of the pool."""

    async def release(self, connection: RedisConnection) -> None:
        """Give a checked-out connection back."""


@runtime_checkable
class RedisClient(Protocol):
    """A ``redis.asyncio.Redis`` client, as far as the stores use it."""

    @property
    def connection_pool(self) -> RedisPool:
        """The pool its connections come from."""

    async def aclose(self) -> None:
        """Close the client and disconnect its pool."""


if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.connection import AbstractConnection

    def _conforms(client: Redis, pool: ConnectionPool, connection: AbstractConnection) -> None:
        """Type-checked only: redis-py provides every member the protocols promise (see the module docstring)."""
        checked: tuple[RedisConnection, Mapping[str, object]] = (connection, pool.connection_kwargs)
        del checked, client


_MISSING = "Redis-backed state needs the redis package: pip install 'llmteam[redis]'"


class RedisErrors(NamedTuple):
    """redis-py's exception classes a store tells apart on a round trip."""

    no_script: type[Exception]  # NOSCRIPT: the server lost a script (restart, SCRIPT FLUSH)
    response: type[Exception]  # any error reply (the connection is fine)
    connection: tuple[type[BaseException], ...]  # the connection failed or timed out


@functools.cache
def redis_errors() -> RedisErrors:
    """redis-py's exception classes (imported once), or ``ImportError`` saying how to install redis-py."""
    try:
        import redis.exceptions as rex
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_MISSING) from exc
    return RedisErrors(rex.NoScriptError, rex.ResponseError, (rex.ConnectionError, rex.TimeoutError, OSError))


def redis_from_url(url: str) -> RedisClient:
    """A ``redis.asyncio.Redis`` client for ``url`` (no connection is made until first use), or ``ImportError``
    saying how to install redis-py."""
    try:
        from redis.asyncio import Redis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_MISSING) from exc
    return cast(RedisClient, Redis.from_url(url))


@register_scheme("redis")
class RedisBackend(Backend):
    """The backend of ``redis://...``: one ``redis.asyncio`` client (its own connection pool), made at first use."""

    loop_bound = True

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url)
        self._client: RedisClient | None = None

    @property
    def client(self) -> RedisClient:
        """The shared client (created on first access; connects on first command)."""
        if self._client is None:
            self._client = redis_from_url(self.url.dsn)
        return self._client

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
