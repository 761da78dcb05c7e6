"""The ``AuditStore`` protocol (contract §4.5) and the optional capabilities llmteam's own stores add."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from llmteam.audit._errors import AuditStorageError
from llmteam.audit._query import AuditQuery
from llmteam.audit._record import AuditRecord
from llmteam.tenancy._validation import validate_tenant_id

__all__ = ["AuditStore", "ChainRow", "check_storable", "has"]

# (sequence_number, stored checksum, previous_checksum, canonical JSON text the checksum must cover, problem):
# the canonical text is None when the stored row itself is inconsistent, and ``problem`` then says why.
ChainRow = tuple[int, str, str, "str | None", str]


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


def check_storable(r: AuditRecord) -> None:
    """Raise AuditStorageError unless ``r`` has a valid tenant id and a sequence number >= 1 (every store)."""
    if type(r.sequence_number) is not int or r.sequence_number < 1:
        raise AuditStorageError(f"sequence_number={r.sequence_number!r} must be an int >= 1 (chains start at 1)")
    try:
        validate_tenant_id(r.tenant_id)
    except ValueError as exc:
        raise AuditStorageError(f"audit record {r.record_id!r} cannot be stored: {exc}") from exc
