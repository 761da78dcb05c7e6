"""Redis access through ``redis.asyncio``, imported lazily (extra ``redis``)."""

from __future__ import annotations

from typing import Any


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
