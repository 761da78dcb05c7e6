"""``KeyStore``: where API keys live (digests only); the base class of the stores in ``llmteam.server.stores``."""

from __future__ import annotations

import asyncio

from llmteam.server._keys import ApiKey


class KeyExistsError(ValueError):
    """A key id that is already stored (ids are random: a collision is refused, never overwritten)."""


class KeyStore:
    """API keys by id. ``add`` never overwrites; ``revoke`` only ever sets ``revoked_at`` once."""

    async def add(self, key: ApiKey) -> None:
        """Store a new key durably before returning; KeyExistsError if its id is taken."""
        raise NotImplementedError

    async def get(self, key_id: str) -> ApiKey | None:
        """The key with this id, or None."""
        raise NotImplementedError

    async def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Every key, or one tenant's, oldest first."""
        raise NotImplementedError

    async def revoke(self, key_id: str, at: float) -> ApiKey | None:
        """Set ``revoked_at`` if not yet set; the key as stored afterwards (None if unknown)."""
        raise NotImplementedError

    async def ping(self) -> None:
        """Raise if the store cannot be reached (``/readyz``)."""
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Release connections; idempotent."""
        await asyncio.sleep(0)
