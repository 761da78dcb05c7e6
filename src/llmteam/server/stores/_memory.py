"""API keys in process memory (``memory://``), bounded: a full store refuses new keys, it never drops one."""

from __future__ import annotations

import asyncio
import dataclasses

from llmteam.server._keys import ApiKey
from llmteam.server._store import KeyExistsError, KeyStore


class MemoryKeyStore(KeyStore):
    """Keys in a dict; at most ``max_keys`` (a key silently evicted would lock its owner out)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._keys: dict[str, ApiKey] = {}

    async def add(self, key: ApiKey) -> None:
        await asyncio.sleep(0)
        if key.key_id in self._keys:
            raise KeyExistsError(f"API key id {key.key_id!r} already exists")
        if len(self._keys) >= self.max_keys:
            raise KeyExistsError(f"the memory key store is full ({self.max_keys} keys); revoke and use a database")
        self._keys[key.key_id] = dataclasses.replace(key)

    async def get(self, key_id: str) -> ApiKey | None:
        await asyncio.sleep(0)
        key = self._keys.get(key_id)
        return None if key is None else dataclasses.replace(key)

    async def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        await asyncio.sleep(0)
        keys = [k for k in self._keys.values() if tenant_id is None or k.tenant_id == tenant_id]
        return [dataclasses.replace(k) for k in sorted(keys, key=lambda k: (k.created_at, k.key_id))]

    async def revoke(self, key_id: str, at: float) -> ApiKey | None:
        await asyncio.sleep(0)
        key = self._keys.get(key_id)
        if key is None:
            return None
        if key.revoked_at is None:
            key.revoked_at = at
        return dataclasses.replace(key)
