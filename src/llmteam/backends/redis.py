"""Redis through ``redis.asyncio`` (imported lazily, extra ``redis``): one client per URL."""

from __future__ import annotations

from typing import Any

from llmteam.backends._base import Backend, register_scheme
from llmteam.backends.url import StoreURL

__all__ = ["RedisBackend", "import_redis_asyncio", "redis_from_url"]


def import_redis_asyncio() -> Any:
    """Import ``redis.asyncio``, or raise ``ImportError`` that says how to install it."""
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Redis-backed state needs the redis package: pip install 'llmteam[redis]'") from exc
    return redis_asyncio


def redis_from_url(url: str, **options: Any) -> Any:
    """A ``redis.asyncio.Redis`` client for ``url`` (no connection is made until first use)."""
    return import_redis_asyncio().from_url(url, **options)


@register_scheme("redis")
class RedisBackend(Backend):
    """The backend of ``redis://...``: one ``redis.asyncio`` client (its own connection pool), made at first use."""

    loop_bound = True

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url)
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The shared client (created on first access; connects on first command)."""
        if self._client is None:
            self._client = redis_from_url(self.url.dsn)
        return self._client

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
