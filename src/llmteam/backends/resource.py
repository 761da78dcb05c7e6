"""``async with`` for anything with an ``async close()``: stores, logs and pools close on exit."""

from __future__ import annotations

from typing import TypeVar

_R = TypeVar("_R", bound="AsyncClosing")


class AsyncClosing:
    """Mixin: ``async with obj:`` returns ``obj`` and awaits ``obj.close()`` on exit."""

    async def close(self) -> None:
        """Release what the object holds; idempotent. Subclasses override it."""

    async def __aenter__(self: _R) -> _R:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
