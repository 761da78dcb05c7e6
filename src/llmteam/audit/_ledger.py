"""``AuditLedger``: signed checkpoints, inclusion and consistency proofs, and full verification of a store."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from llmteam.audit._chain import PAGE_SIZE, verify_chain_range
from llmteam.audit._errors import AuditError, AuditIntegrityError
from llmteam.audit._merkle import MerkleTree
from llmteam.audit._signing import SigningKey, default_key_path
from llmteam.audit._store import AuditStore, AuditStoreBase, as_audit_store
from llmteam.audit.verifier import VerificationError, verify_checkpoint, verify_consistency

__all__ = ["MAX_CACHED_TREES", "AuditLedger", "LedgerVerification"]

MAX_CACHED_TREES = 64  # per-tenant Merkle trees kept between calls; others are rebuilt from the store


@dataclass
class LedgerVerification:
    """What :meth:`AuditLedger.verify` found for one tenant."""

    tenant_id: str
    records_checked: int = 0
    tree_size: int = 0
    root_hash: str = ""
    missing: list[int] = field(default_factory=list)
    first_broken: int | None = None
    problems: list[str] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the chain is intact and the log extends the checkpoint (if any)."""
        return not self.problems


class AuditLedger:
    """Merkle checkpoints and proofs over an audit store; trees are cached per tenant and extended incrementally."""

    def __init__(self, store: AuditStoreBase | AuditStore, signing_key: SigningKey | None = None) -> None:
        self.store = as_audit_store(store)  # the optional capabilities with their defaults: no probing below
        self._key = signing_key
        self._trees: dict[str, MerkleTree] = {}

    @property
    def signing_key(self) -> SigningKey:
        """The checkpoint key (loaded or created at first use; see :func:`default_key_path`)."""
        if self._key is None:
            self._key = SigningKey.load_or_create(default_key_path(self.store.path))
        return self._key

    async def tree(self, tenant_id: str, *, fresh: bool = False) -> MerkleTree:
        """The tenant's Merkle tree up to its last record; a gap in the sequence raises AuditIntegrityError."""
        if fresh:
            t = MerkleTree()
        else:
            cached = self._trees.pop(tenant_id, None)  # re-inserted below: the dict keeps recency order
            while cached is None and len(self._trees) >= MAX_CACHED_TREES:
                del self._trees[next(iter(self._trees))]  # forget the least recently used tree (rebuilt on demand)
            t = self._trees[tenant_id] = cached if cached is not None else MerkleTree()
        last = int(await self.store.get_last_sequence(tenant_id))
        while t.size < last:
            start = t.size + 1
            pairs = await self.store.checksums(tenant_id, start, min(last, start + PAGE_SIZE - 1))
            for i, (seq, _) in enumerate(pairs):
                if seq != start + i:
                    raise AuditIntegrityError(
                        f"tenant {tenant_id!r}'s audit log is missing sequence {start + i}; it cannot be proven",
                        [str(start + i)],
                    )
            if not pairs:
                raise AuditIntegrityError(f"tenant {tenant_id!r}'s audit log is missing sequence {start}", [str(start)])
            t.extend(c for _, c in pairs)
        return t

    async def checkpoint(self, tenant_id: str, *, save: bool = True) -> dict[str, Any]:
        """Sign the tenant's current tree head and (by default) keep it in the store."""
        t = await self.tree(tenant_id)
        cp = self.signing_key.sign_checkpoint(tenant_id, t.size, t.root().hex())
        if save:
            await self.store.save_checkpoint(cp)
        return cp

    async def latest_checkpoint(self, tenant_id: str) -> dict[str, Any] | None:
        """The last checkpoint kept in the store (None if it holds none, or keeps none)."""
        try:
            cp = await self.store.latest_checkpoint(tenant_id)
        except (ValueError, TypeError) as exc:  # a row inserted by hand
            raise AuditIntegrityError(
                f"the latest stored checkpoint of tenant {tenant_id!r} is not a checkpoint ({exc}); "
                "verify against one you hold with `llmteam audit verify --checkpoint FILE`"
            ) from exc
        return cp

    async def prove_inclusion(
        self, tenant_id: str, sequence_number: int, checkpoint: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A bundle (record, path, signed checkpoint) the standalone verifier accepts."""
        t = await self.tree(tenant_id)
        cp = checkpoint or await self.checkpoint(tenant_id)
        size = int(cp["tree_size"])
        if not 1 <= sequence_number <= size:
            raise AuditError(
                f"sequence {sequence_number} is not covered by tenant {tenant_id!r}'s checkpoint of size {size}"
            )
        records = await self.store.get_by_sequence_range(tenant_id, sequence_number, sequence_number)
        if not records:
            raise AuditIntegrityError(f"sequence {sequence_number} of tenant {tenant_id!r} is missing")
        return {
            "tenant_id": tenant_id, "leaf_index": sequence_number - 1, "tree_size": size,
            "record": records[0].to_dict(), "path": [h.hex() for h in t.inclusion_path(sequence_number - 1, size)],
            "checkpoint": cp,
        }

    async def prove_consistency(self, tenant_id: str, first: int, second: int | None = None) -> dict[str, Any]:
        """``{"first", "second", "path"}`` proving the tree of size ``second`` extends the one of size ``first``."""
        t = await self.tree(tenant_id)
        second = t.size if second is None else second
        return {"first": first, "second": second, "path": [h.hex() for h in t.consistency_path(first, second)]}

    async def tenants(self) -> list[str]:
        """Every tenant to verify: those with records and those with a stored checkpoint (whose records may be gone)."""
        return sorted(set(await self.store.tenants()) | set(await self.store.checkpoint_tenants()))

    async def verify(
        self, tenant_id: str, checkpoint: dict[str, Any] | None = None, public_key: bytes | None = None
    ) -> LedgerVerification:
        """Re-read the whole log: every checksum and link, no row outside the chain, and (given a checkpoint) that
        the log extends it."""
        res = LedgerVerification(tenant_id, checkpoint=checkpoint)
        last = int(await self.store.get_last_sequence(tenant_id))
        chain = await verify_chain_range(self.store, tenant_id, 1, last)
        res.records_checked, res.missing, res.first_broken = chain.checked, chain.missing, chain.first_broken
        stray = int(await self.store.outside_chain(tenant_id))
        if stray:
            res.problems.append(f"{stray} row(s) outside the chain (a sequence number that is not an integer >= 1) "
                                "were inserted")
        if chain.missing:
            res.problems.append(f"missing sequence numbers starting at {chain.missing[0]}")
        if chain.first_broken is not None:
            res.problems.append(f"first broken link at sequence {chain.first_broken}: {chain.reason}")
        try:
            t = await self.tree(tenant_id, fresh=True)
        except (AuditIntegrityError, ValueError) as exc:  # a gap, or a stored checksum that is not hex
            res.problems.append(f"Merkle tree cannot be rebuilt: {exc}")
            return res
        res.tree_size, res.root_hash = t.size, t.root().hex()
        if checkpoint is not None:
            self._check_against(res, t, checkpoint, public_key or self.signing_key.public_key)
        return res

    @staticmethod
    def _check_against(res: LedgerVerification, t: MerkleTree, cp: dict[str, Any], public_key: bytes) -> None:
        try:
            verify_checkpoint(cp, public_key)
        except VerificationError as exc:
            res.problems.append(str(exc))
            return
        size = int(cp["tree_size"])
        if cp["tenant_id"] != res.tenant_id:
            res.problems.append(f"checkpoint is for tenant {cp['tenant_id']!r}, not {res.tenant_id!r}")
        elif t.size < size:
            res.problems.append(f"log truncated: checkpoint covers {size} records, the log holds {t.size}")
        elif not hmac.compare_digest(t.root(size).hex(), str(cp["root_hash"])):
            res.problems.append(
                f"the first {size} records no longer match the checkpoint root: "
                "records were edited, deleted or reordered"
            )
        elif not verify_consistency(size, t.size, t.root(size), t.root(), t.consistency_path(size)):
            res.problems.append("internal error: consistency proof failed")  # pragma: no cover
