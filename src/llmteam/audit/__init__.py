"""llmteam.audit -- a durable, per-tenant, tamper-evident audit log with proofs anyone can check offline.

An :class:`AuditTrail` writes :class:`AuditRecord` entries into an :class:`AuditStore`. Each tenant has its own
hash chain: record ``n`` carries ``sequence_number = n`` and the checksum of record ``n - 1``, and its own checksum
covers every field (SHA-256, or HMAC-SHA256 with ``LLMTEAM_AUDIT_HMAC_KEY`` / :func:`set_checksum_key`). Chains
stay gap-free under concurrent writers (tasks, trails, processes): a store refuses a reused sequence and the
trail reloads the head and retries. With ``write_through=True`` (the default) ``log()`` returns only once the
record is stored; :meth:`AuditTrail.log_many` writes a batch atomically.

On top of the chain, :class:`AuditLedger` keeps an RFC 6962 Merkle tree per tenant: Ed25519-signed checkpoints,
inclusion proofs for any record and consistency proofs between checkpoints, checked by the standalone
:mod:`llmteam.audit.verifier` with nothing but the public key. Truncating, deleting, reordering or editing any
record is detected against a checkpoint.

    from llmteam.audit import AuditTrail, AuditEventType
    from llmteam.audit.stores import SQLiteAuditStore

    trail = AuditTrail(SQLiteAuditStore("audit.db"), tenant_id="acme")
    await trail.log(AuditEventType.DATA_CREATED, actor_id="alice", resource_type="invoice", resource_id="42")
    ok, missing = await trail.verify_chain()

Stores (``llmteam.audit.stores``): ``MemoryAuditStore``, ``SQLiteAuditStore``, ``PostgresAuditStore`` and
``open_audit_store(url)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmteam.audit._checksum import get_checksum_key, sensitive_digest, set_checksum_key
    from llmteam.audit._enums import AuditEventType, AuditSeverity
    from llmteam.audit._errors import AuditError, AuditIntegrityError, AuditStorageError
    from llmteam.audit._ledger import AuditLedger, LedgerVerification
    from llmteam.audit._merkle import MerkleTree
    from llmteam.audit._query import AuditQuery, AuditReport
    from llmteam.audit._record import AuditRecord, generate_audit_id
    from llmteam.audit._signing import SigningKey
    from llmteam.audit._store import AuditStore, AuditStoreBase
    from llmteam.audit._trail import AuditTrail, TenantAwareAuditTrail

# Public names resolve lazily (PEP 562), so ``python -m llmteam.audit.verifier`` runs the verifier without this
# package having imported it first (which would make runpy warn).
_WHERE = {
    "get_checksum_key": "_checksum", "set_checksum_key": "_checksum", "sensitive_digest": "_checksum",
    "AuditEventType": "_enums",
    "AuditSeverity": "_enums", "AuditError": "_errors", "AuditIntegrityError": "_errors",
    "AuditStorageError": "_errors", "AuditLedger": "_ledger", "LedgerVerification": "_ledger",
    "MerkleTree": "_merkle", "AuditQuery": "_query", "AuditReport": "_query", "AuditRecord": "_record",
    "generate_audit_id": "_record", "SigningKey": "_signing", "AuditStore": "_store",
    "AuditStoreBase": "_store", "AuditTrail": "_trail",
    "TenantAwareAuditTrail": "_trail",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'llmteam.audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"llmteam.audit.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "AuditError",
    "AuditEventType",
    "AuditIntegrityError",
    "AuditLedger",
    "AuditQuery",
    "AuditRecord",
    "AuditReport",
    "AuditSeverity",
    "AuditStorageError",
    "AuditStore",
    "AuditStoreBase",
    "AuditTrail",
    "LedgerVerification",
    "MerkleTree",
    "SigningKey",
    "TenantAwareAuditTrail",
    "generate_audit_id",
    "get_checksum_key",
    "sensitive_digest",
    "set_checksum_key",
]
