"""The ``AuditStore`` protocol (contract §4.5) and the optional capabilities llmteam's own stores add."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from llmteam.audit._query import AuditQuery
from llmteam.audit._record import AuditRecord

__all__ = ["AuditStore", "ChainRow", "has"]

# (sequence_number, stored checksum, previous_checksum, canonical JSON text the checksum must cover)
ChainRow = tuple[int, str, str, str]


@runtime_checkable
class AuditStore(Protocol):
    """Append-only storage for audit records; a duplicate ``(tenant_id, sequence_number)`` raises AuditStorageError.

    llmteam's stores also offer ``append_many(records)`` (atomic batch), ``get_head(tenant_id)``,
    ``chain_rows(tenant_id, start, end)``, ``tenants()``, ``save_checkpoint(cp)`` and ``latest_checkpoint(tenant_id)``;
    the trail uses them when present and falls back to the four methods below otherwise.
    """

    async def append(self, record: AuditRecord) -> None:
        """Store ``record``; raise ``AuditStorageError`` if its tenant already has its sequence number."""
        ...

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        """Records matching ``q`` (filters AND-ed), ordered, then paginated."""
        ...

    async def get_last_sequence(self, tenant_id: str) -> int:
        """The highest sequence number stored for ``tenant_id`` (0 if none)."""
        ...

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        """The tenant's records with ``start <= sequence_number <= end``, ascending."""
        ...


def has(store: Any, name: str) -> bool:
    """Does ``store`` offer the optional capability ``name``?"""
    return callable(getattr(store, name, None))
