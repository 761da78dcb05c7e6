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

from llmteam.audit._checksum import get_checksum_key, set_checksum_key
from llmteam.audit._enums import AuditEventType, AuditSeverity
from llmteam.audit._errors import AuditError, AuditIntegrityError, AuditStorageError
from llmteam.audit._ledger import AuditLedger, LedgerVerification
from llmteam.audit._merkle import MerkleTree
from llmteam.audit._query import AuditQuery, AuditReport
from llmteam.audit._record import AuditRecord, generate_audit_id
from llmteam.audit._signing import SigningKey
from llmteam.audit._store import AuditStore
from llmteam.audit._trail import AuditTrail, TenantAwareAuditTrail

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
    "AuditTrail",
    "LedgerVerification",
    "MerkleTree",
    "SigningKey",
    "TenantAwareAuditTrail",
    "generate_audit_id",
    "get_checksum_key",
    "set_checksum_key",
]
