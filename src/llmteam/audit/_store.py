"""The ``AuditStore`` protocol (contract §4.5) and :class:`AuditStoreBase`, the class a new audit backend subclasses.

``AuditStore`` is the runtime-checkable contract any object may satisfy. llmteam's own stores subclass
:class:`AuditStoreBase`, which adds the optional capabilities (head lookup, atomic batches, verification rows,
Merkle leaves, checkpoints, serialised appends, group commit) with correct defaults built on the four contract
methods; the trail, the verifier and the ledger reach any store through :func:`as_audit_store`, so nobody probes a
store with ``hasattr``. An object that only satisfies the protocol gets the defaults (it keeps no checkpoints).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container
from typing import Any, ClassVar, Protocol, runtime_checkable

from llmteam._repr import bounded_repr
from llmteam.audit._errors import AuditStorageError
from llmteam.audit._query import AuditQuery
from llmteam.audit._record import AuditRecord
from llmteam.tenancy._validation import validate_tenant_id

__all__ = ["MAX_SEQUENCE", "AuditStore", "AuditStoreBase", "ChainRow", "Link", "as_audit_store", "check_storable"]

MAX_SEQUENCE = 2**63 - 1  # the largest sequence number a store accepts (SQLite INTEGER, PostgreSQL BIGINT)

# (sequence_number, stored checksum, previous_checksum, canonical JSON text the checksum must cover, problem):
# the canonical text is None when the stored row itself is inconsistent, and ``problem`` then says why.
ChainRow = tuple[int, str, str, "str | None", str]
# builds the records to append from the tenant's head (last sequence, its checksum)
Link = Callable[[tuple[int, str]], list[AuditRecord]]


@runtime_checkable
class AuditStore(Protocol):
    """Append-only storage for audit records; a duplicate ``(tenant_id, sequence_number)`` raises AuditStorageError."""

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


class AuditStoreBase:
    """Base class of llmteam's audit stores: implement the four contract methods, override capabilities to speed up.

    ``append`` is the one that matters: it must store the record durably before returning and raise
    ``AuditStorageError`` when ``(tenant_id, sequence_number)`` is already taken, atomically, even against other
    processes (a UNIQUE constraint does it), because the trail detects lost races that way.
    """

    atomic_batches: ClassVar[bool] = False  # append_many() stores all records or none (one transaction)
    group_commit: ClassVar[bool] = False  # concurrent log() calls may share one append_many() (llmteam.audit._group)
    # With group commit, a lone caller yields once before committing so callers ready in the same turn share its
    # commit. A store whose commit always awaits I/O (a server round trip) sets False: callers that arrive while
    # it is in flight form the next group, and a lone caller saves an event-loop turn.
    yield_before_lone_commit: ClassVar[bool] = True
    path: str | None = None  # the file a store keeps its records in, if any (the signing key is kept beside it)

    async def append(self, record: AuditRecord) -> None:
        """Store ``record`` durably; raise ``AuditStorageError`` if its tenant already has its sequence number."""
        raise NotImplementedError

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        """Records matching ``q`` (filters AND-ed), ordered, then paginated."""
        raise NotImplementedError

    async def get_last_sequence(self, tenant_id: str) -> int:
        """The highest sequence number stored for ``tenant_id`` (0 if none)."""
        raise NotImplementedError

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        """The tenant's records with ``start <= sequence_number <= end``, ascending."""
        raise NotImplementedError

    async def append_many(self, records: list[AuditRecord]) -> None:
        """Store ``records`` in order; atomic (all or none) only where ``atomic_batches`` says so."""
        for record in records:
            await self.append(record)

    def append_sealed(self, records: list[AuditRecord], sealed: list[tuple[str, ...] | None]) -> Awaitable[None]:
        """Append records the trail has just built and sealed, each with the texts its checksum covered.

        The trail appends every record it builds through this method. ``sealed[i]`` is what
        :func:`llmteam.audit._record.seal` returned for ``records[i]``: the texts of its timestamp, enums and nested
        fields (None: none kept). Nobody else has seen the records yet, so they still hold the values the texts were
        written from: a store that writes text columns (the SQL stores) writes them instead of encoding the fields
        again. By default the records go to :meth:`append` (one) or :meth:`append_many` (several), so a subclass
        that overrides those sees every record (a plain method returning their coroutine: no extra coroutine).
        """
        return self.append(records[0]) if len(records) == 1 else self.append_many(records)

    async def get_head(self, tenant_id: str) -> tuple[int, str]:
        """``(last sequence, its checksum)``; ``(0, "")`` for an empty chain."""
        last = await self.get_last_sequence(tenant_id)
        if last == 0:
            return 0, ""
        records = await self.get_by_sequence_range(tenant_id, last, last)
        return last, (records[0].checksum if records else "")

    async def append_linked(self, tenant_id: str, link: Link) -> list[AuditRecord]:
        """Append ``link(head)`` at the tenant's current head; a store that can serialise writers per tenant does.

        The trail uses it after losing a race, so a crowd of writers on one tenant takes turns instead of
        retrying in lock-step. A duplicate sequence still raises ``AuditStorageError``.
        """
        records = link(await self.get_head(tenant_id))
        if len(records) == 1:
            await self.append(records[0])
        else:
            await self.append_many(records)
        return records

    async def chain_rows(self, tenant_id: str, start: int, end: int) -> list[ChainRow]:
        """Verification rows for [start, end], ascending (stores override this to skip decoding records)."""
        records = await self.get_by_sequence_range(tenant_id, start, end)
        return [(r.sequence_number, r.checksum, r.previous_checksum, r.canonical_json(), "") for r in records]

    async def checksums(self, tenant_id: str, start: int, end: int) -> list[tuple[int, str]]:
        """``(sequence, checksum)`` pairs in [start, end], ascending: the Merkle leaves (stores skip decoding)."""
        return [(r.sequence_number, r.checksum) for r in await self.get_by_sequence_range(tenant_id, start, end)]

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint next to the log; by default a store keeps none (the caller holds them)."""

    async def latest_checkpoint(self, tenant_id: str) -> dict[str, Any] | None:
        """The most recently saved checkpoint of ``tenant_id``, or None (always None for a store that keeps none)."""
        return None

    async def tenants(self) -> list[str]:
        """Every tenant with at least one record, sorted (the built-in stores list them; by default none are)."""
        return []

    async def checkpoint_tenants(self) -> list[str]:
        """Every tenant with a stored checkpoint, sorted: verification covers them even when no record is left."""
        return []

    async def outside_chain(self, tenant_id: str) -> int:
        """How many of the tenant's stored rows lie outside its chain (never served: a sign of tampering); 0 for a
        store whose rows cannot."""
        return 0

    async def close(self) -> None:
        """Release connections; idempotent."""


class _ContractStore(AuditStoreBase):
    """Any object that satisfies the :class:`AuditStore` contract, seen through the base class's defaults."""

    def __init__(self, store: AuditStore) -> None:
        self.inner = store

    async def append(self, record: AuditRecord) -> None:
        await self.inner.append(record)

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        return await self.inner.query(q)

    async def get_last_sequence(self, tenant_id: str) -> int:
        return int(await self.inner.get_last_sequence(tenant_id))

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        return await self.inner.get_by_sequence_range(tenant_id, start, end)


def as_audit_store(store: AuditStoreBase | AuditStore) -> AuditStoreBase:
    """``store`` itself if it subclasses :class:`AuditStoreBase`, else a view of it with the default capabilities."""
    if isinstance(store, AuditStoreBase):
        return store
    if not isinstance(store, AuditStore):
        raise TypeError(
            f"{store!r} is not an audit store: subclass llmteam.audit.AuditStoreBase (or implement append, query, "
            "get_last_sequence and get_by_sequence_range)"
        )
    return _ContractStore(store)


def check_storable(r: AuditRecord, known: Container[str] = ()) -> None:
    """Raise AuditStorageError unless ``r`` has a valid tenant id and a sequence number from 1 to
    :data:`MAX_SEQUENCE` (every store: the SQL stores keep it in a 64-bit column).

    ``known``: tenant ids that passed this check already (a store's own tenants, a batch's); a tenant id that is
    exactly a ``str`` among them is not validated again. The sequence number is always checked.
    """
    if type(r.sequence_number) is not int or not 1 <= r.sequence_number <= MAX_SEQUENCE:
        raise AuditStorageError(f"sequence_number={bounded_repr(r.sequence_number)} must be an int from 1 to "
                                f"{MAX_SEQUENCE:,} (chains start at 1; every store keeps it in 64 bits)")
    if type(r.tenant_id) is str and r.tenant_id in known:
        return
    try:
        validate_tenant_id(r.tenant_id)
    except ValueError as exc:
        raise AuditStorageError(f"audit record {r.record_id!r} cannot be stored: {exc}") from exc
