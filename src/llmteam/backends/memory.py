"""``memory://``: state kept in the stores themselves, per process; the backend holds nothing."""

from __future__ import annotations

from llmteam.backends._base import Backend, register_scheme

__all__ = ["MemoryBackend"]


@register_scheme("memory")
class MemoryBackend(Backend):
    """The backend of ``memory://``: nothing to open or close (each store keeps its own dicts)."""

    async def aclose(self) -> None:
        """Nothing to release."""
