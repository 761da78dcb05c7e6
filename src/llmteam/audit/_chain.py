"""Hash-chain verification over a store, one page at a time (bounded memory at any log size)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from llmteam.audit._checksum import get_checksum_key, hasher, utf8
from llmteam.audit._store import AuditStore, AuditStoreBase, ChainRow, as_audit_store

__all__ = ["MAX_REPORTED_MISSING", "PAGE_SIZE", "ChainResult", "chain_page", "verify_chain_range"]

PAGE_SIZE = 5000
MAX_REPORTED_MISSING = 100_000


@dataclass
class ChainResult:
    """Outcome of checking sequences [start, end] of one tenant's chain."""

    checked: int = 0
    missing: list[int] = field(default_factory=list)
    first_broken: int | None = None
    reason: str = ""

    @property
    def valid(self) -> bool:
        """True when no sequence is missing and every checksum and link holds."""
        return not self.missing and self.first_broken is None


async def chain_page(store: AuditStoreBase | AuditStore, tenant_id: str, start: int, end: int) -> list[ChainRow]:
    """Verification rows for [start, end] (the store's fast path where it has one)."""
    return await as_audit_store(store).chain_rows(tenant_id, start, end)


async def verify_chain_range(store: AuditStoreBase | AuditStore, tenant_id: str, start: int, end: int) -> ChainResult:
    """Check every record's checksum and link in [start, end], reading PAGE_SIZE sequences at a time."""
    result = ChainResult()
    start = max(1, start)
    if end < start:
        return result
    key_hash = hasher(get_checksum_key())  # looked up once for the whole range
    prev: str | None = ""
    if start > 1:
        before = await chain_page(store, tenant_id, start - 1, start - 1)
        prev = before[0][1] if before else None
    expected, broken, reason = start, None, ""  # the first broken record (locals: read for every record)
    for page_start in range(start, end + 1, PAGE_SIZE):
        rows = await chain_page(store, tenant_id, page_start, min(end, page_start + PAGE_SIZE - 1))
        result.checked += len(rows)
        for seq, checksum, previous, canonical, problem in rows:
            if seq > expected:
                room = MAX_REPORTED_MISSING - len(result.missing)
                result.missing.extend(range(expected, min(seq, expected + max(room, 0))))
                prev = None
            if broken is None:
                if canonical is None:
                    broken, reason = seq, problem
                elif type(checksum) is not str or not hmac.compare_digest(
                    checksum, key_hash(utf8(canonical)).hexdigest()
                ):
                    broken, reason = seq, "checksum does not match the record's fields"
                elif prev is not None and previous != prev:
                    broken, reason = seq, "previous_checksum does not match the predecessor"
            prev, expected = checksum, seq + 1
    result.first_broken, result.reason = broken, reason
    if expected <= end:
        room = MAX_REPORTED_MISSING - len(result.missing)
        result.missing.extend(range(expected, min(end + 1, expected + max(room, 0))))
    return result
