"""``Backend`` and the scheme registry: one connection owner per URL, shared and reference-counted.

A backend owns what a database needs in one process: the SQLite file's writer thread and connections, the
PostgreSQL pool, the Redis client. :func:`open_backend` maps a URL to its backend class through the scheme
registry and, by default, hands every caller in the process the same backend for the same URL; each caller
:meth:`Backend.release` s its reference and the last release closes the backend (without blocking the loop).
A new database registers itself with ``@register_scheme("name")`` on a ``Backend`` subclass.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable
from typing import ClassVar, TypeVar

from llmteam._exceptions import SchemaVersionError, StoreURLError
from llmteam.backends.url import StoreURL, add_scheme, parse_store_url

__all__ = ["Backend", "backend_of", "open_backend", "register_scheme", "registered_schemes"]

B = TypeVar("B", bound="Backend")
S = TypeVar("S")  # one step of a migration, as the backend spells it

_SCHEMES: dict[str, type[Backend]] = {}
_SHARED: dict[Hashable, Backend] = {}
_LOCK = threading.Lock()


class Backend:
    """What one URL connects to, shared by every store on it; subclasses implement :meth:`aclose`."""

    scheme: ClassVar[str] = ""
    loop_bound: ClassVar[bool] = False  # connections belong to the event loop that made them (asyncpg, redis)

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self._refs = 0
        self._share_key: Hashable | None = None
        self._released = False

    async def aclose(self) -> None:
        """Close every connection, pool and thread this backend holds; idempotent.

        Called once, by the last :meth:`release`, on the event loop: anything that blocks (joining a thread,
        closing a file) must run in a worker thread, never on the loop.
        """
        raise NotImplementedError

    def joined(self, url: StoreURL) -> None:
        """Another :func:`open_backend` call shares this backend, asking for ``url`` (same database).

        The default ignores it; a backend whose options can differ per URL (SQLite's ``synchronous``) adopts
        the stricter of the two here, so sharing never weakens what an opener asked for.
        """

    def retain(self: B) -> B:
        """Take one more reference (a store that shares this backend); returns ``self``."""
        with _LOCK:
            if self._released:
                raise RuntimeError(f"backend for {self.url.url!r} is closed; open it again with open_backend()")
            self._refs += 1
        return self

    async def release(self) -> None:
        """Drop one reference; the last one closes the backend. Extra calls are ignored."""
        with _LOCK:
            if self._released:
                return
            self._refs -= 1
            if self._refs > 0:
                return
            self._released = True
            self._forget_locked()
        await self.aclose()

    def handoff(self) -> None:
        """Drop the caller's reference synchronously once the stores it opened hold their own.

        Only for a sync opener (``open_audit_store(url)``): if no store took a reference, nothing was connected
        yet (backends connect at first use), so the backend is simply discarded.
        """
        with _LOCK:
            self._refs -= 1
            if self._refs <= 0:
                self._released = True
                self._forget_locked()

    def _forget_locked(self) -> None:
        if self._share_key is not None and _SHARED.get(self._share_key) is self:
            del _SHARED[self._share_key]

    def forget(self) -> None:
        """Stop handing this backend to new :func:`open_backend` callers (it is being closed directly)."""
        with _LOCK:
            self._released = True
            self._forget_locked()

    @property
    def refs(self) -> int:
        """How many holders share this backend now."""
        return self._refs

    async def __aenter__(self: B) -> B:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url.redacted} refs={self._refs}>"


def register_scheme(*schemes: str) -> Callable[[type[B]], type[B]]:
    """Class decorator: URLs with these schemes open this backend class."""

    def decorate(cls: type[B]) -> type[B]:
        for scheme in schemes:
            add_scheme(scheme)
            _SCHEMES[scheme] = cls
        cls.scheme = schemes[0]
        return cls

    return decorate


def registered_schemes() -> tuple[str, ...]:
    """Every scheme a backend is registered for."""
    return tuple(sorted(_SCHEMES))


def _share_key(cls: type[Backend], url: StoreURL) -> Hashable:
    key: tuple[Hashable, ...] = (cls.__name__, url.identity)
    if cls.loop_bound:
        try:
            key += (id(asyncio.get_running_loop()),)
        except RuntimeError:
            key += (None,)
    return key


def open_backend(url: str, *, allowed: tuple[str, ...] | None = None, shared: bool = True) -> Backend:
    """The backend for ``url`` with one reference taken for the caller (no I/O yet; release it when done).

    With ``shared`` (the default) every open of the same URL in this process returns the same backend while
    it is open; ``shared=False`` gives a private one.
    """
    parsed = parse_store_url(url, allowed=allowed if allowed is not None else registered_schemes())
    cls = _SCHEMES.get(parsed.scheme)
    if cls is None:
        raise StoreURLError(f"store URL {url!r}: no backend is registered for scheme {parsed.scheme!r}")
    if not shared:
        return cls(parsed).retain()
    key = _share_key(cls, parsed)
    with _LOCK:
        backend = _SHARED.get(key)
        if backend is None:
            backend = cls(parsed)
            backend._share_key = key
            _SHARED[key] = backend
        else:
            backend.joined(parsed)
        backend._refs += 1
    return backend


def backend_of(target: str | Backend, allowed: tuple[str, ...]) -> Backend:
    """``target`` itself (one more reference) if it is a backend, else the shared backend of the URL."""
    if isinstance(target, Backend):
        if target.url.scheme not in allowed:
            raise StoreURLError(
                f"a {target.url.scheme} backend is not supported here; use one of {', '.join(allowed)}"
            )
        return target.retain()
    return open_backend(target, allowed=allowed)


def pending_steps(where: str, component: str, current: int, steps: list[S]) -> list[tuple[int, S]]:
    """The numbered migration steps after ``current``; SchemaVersionError if ``where`` holds a newer schema."""
    if current > len(steps):
        raise SchemaVersionError(
            f"{where} holds {component} schema v{current}, newer than this llmteam (v{len(steps)}); upgrade llmteam"
        )
    return list(enumerate(steps[current:], start=current + 1))
