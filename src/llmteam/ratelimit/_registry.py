"""Pick a backend from a URL or an instance: the one place where ``memory://`` and ``redis://`` are mapped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmteam.backends.url import parse_store_url

from ._backend import RateLimitBackend
from .stores._memory import MemoryRateLimitBackend
from .stores._redis import RedisOptions, RedisRateLimitBackend

if TYPE_CHECKING:
    from typing_extensions import Unpack


def backend_from_url(url: str, **options: Unpack[RedisOptions]) -> RateLimitBackend:
    """``memory://`` -> a fresh :class:`MemoryRateLimitBackend`; ``redis://...`` -> :class:`RedisRateLimitBackend`
    with ``options`` (its keyword arguments)."""
    parsed = parse_store_url(url, allowed=("memory", "redis"))
    if parsed.scheme == "memory":
        if options:
            raise ValueError(f"memory:// rate-limit backend takes no options, got {sorted(options)}")
        return MemoryRateLimitBackend()
    return RedisRateLimitBackend(parsed.dsn, **options)


def resolve_backend(backend: RateLimitBackend | str | None) -> RateLimitBackend | None:
    """Accept a backend instance, a URL, or None (None: the caller keeps private in-memory state)."""
    if backend is None or isinstance(backend, RateLimitBackend):
        return backend
    if isinstance(backend, str):
        return backend_from_url(backend)
    raise TypeError(f"backend={backend!r} must be a RateLimitBackend, a URL string or None")
