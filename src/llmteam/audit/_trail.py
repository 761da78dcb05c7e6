"""``AuditTrail``: writes gap-free, per-tenant hash chains into an AuditStore (contract §4.6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from llmteam.audit._chain import verify_chain_range
from llmteam.audit._checksum import get_checksum_key, hasher
from llmteam.audit._convenience import ConvenienceLogging
from llmteam.audit._enums import AuditEventType
from llmteam.audit._errors import AuditStorageError
from llmteam.audit._fields import event_fields
from llmteam.audit._group import Entry, GroupCommitter, Outcome
from llmteam.audit._query import AuditQuery, AuditReport
from llmteam.audit._record import (
    BATCH_IDS,
    AuditRecord,
    generate_audit_id,
    generate_audit_ids,
    seal,
    utc_iso,
)
from llmteam.audit._report import build_report
from llmteam.audit._store import AuditStore, AuditStoreBase, as_audit_store
from llmteam.licensing import LicenseTier, check_builtin_gate
from llmteam.tenancy import current_tenant
from llmteam.tenancy._validation import validate_tenant_id

__all__ = ["AuditTrail", "TenantAwareAuditTrail"]

logger = logging.getLogger(__name__)

MAX_RETRIES = 100
MAX_BACKOFF = 0.2  # seconds: the cap of the randomised exponential backoff between lost races


async def backoff(attempt: int) -> None:
    """Sleep a random time up to ``min(MAX_BACKOFF, 1 ms * 2**attempt)`` so racing writers spread out."""
    await asyncio.sleep(random.uniform(0, min(MAX_BACKOFF, 0.001 * 2 ** min(attempt, 16))))
HARD_BUFFER_CAP = 10_000
MAX_TENANT_STATE = 4096  # per-tenant locks and cached chain heads kept; idle ones beyond this are forgotten
_UNSEALED = "unsealed"  # a placeholder that stops AuditRecord from computing its checksum before _link seals it


class AuditTrail(ConvenienceLogging):
    """Logs audit events for the current tenant; every tenant's chain stays gap-free and correctly linked."""

    def __init__(
        self,
        store: AuditStoreBase | AuditStore,
        tenant_id: str = "",
        auto_flush: bool = True,
        buffer_size: int = 100,
        use_context_tenant: bool = True,
        *,
        write_through: bool = True,
        allow_cross_tenant: bool = False,
    ) -> None:
        check_builtin_gate("AuditTrail", LicenseTier.ENTERPRISE)
        if tenant_id != "":
            validate_tenant_id(tenant_id)
        if not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"buffer_size={buffer_size!r} must be a positive integer")
        self.store = store
        self._store = as_audit_store(store)  # the capabilities with their defaults: no probing below
        self._tenant_id = tenant_id
        self.auto_flush = auto_flush
        self.buffer_size = buffer_size
        self.use_context_tenant = use_context_tenant
        self.write_through = write_through
        self.allow_cross_tenant = allow_cross_tenant
        self._heads: dict[str, tuple[int, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._buffer: list[AuditRecord] = []
        self._flush_lock = asyncio.Lock()
        self._group: GroupCommitter | None = None
        if self._store.group_commit is True and self._store.atomic_batches:
            self._group = GroupCommitter(self._commit_group, self._commit_one,
                                         yield_first=self._store.yield_before_lone_commit is not False)

    @property
    def tenant_id(self) -> str:
        """The context tenant (when enabled and set), else the constructor's tenant, else ``"default"``."""
        if self.use_context_tenant:
            ctx = current_tenant.get()
            if ctx:
                return ctx
        return self._tenant_id or "default"

    def _lock(self, tenant: str) -> asyncio.Lock:
        lock = self._locks.get(tenant)
        if lock is None:
            validate_tenant_id(tenant)  # the context tenant can be set without TenantContext: check it here
            if len(self._locks) >= MAX_TENANT_STATE:
                self._forget_idle_tenants()
            lock = self._locks[tenant] = asyncio.Lock()
        return lock

    def _forget_idle_tenants(self) -> None:
        """Drop the oldest idle tenants' locks and cached heads (reloaded from the store when needed again).

        A tenant whose lock is held or that has buffered records is kept. Forgetting a lock another task is
        about to take is safe: two writers at one head are exactly the multi-process case, where the store
        refuses the reused sequence number and the trail reloads the head and retries.
        """
        pending = {r.tenant_id for r in self._buffer}
        target = MAX_TENANT_STATE * 3 // 4
        for tenant in list(self._locks):
            if len(self._locks) <= target:
                break
            if not self._locks[tenant].locked() and tenant not in pending:
                del self._locks[tenant]
                self._heads.pop(tenant, None)

    async def _store_head(self, tenant: str) -> tuple[int, str]:
        seq, checksum = await self._store.get_head(tenant)
        return int(seq), str(checksum)

    async def _head(self, tenant: str) -> tuple[int, str]:
        head = self._heads.get(tenant)
        if head is None:
            head = self._heads[tenant] = await self._store_head(tenant)
        return head

    async def initialize(self) -> None:
        """Load the current tenant's chain head from the store (idempotent; called implicitly)."""
        tenant = self.tenant_id
        async with self._lock(tenant):
            await self._head(tenant)

    # -- writing -------------------------------------------------------------------------------------
    def _link(
        self, tenant: str, head: tuple[int, str], fields: list[dict[str, Any]],
        sealed: list[tuple[str, ...] | None] | None = None,
    ) -> list[AuditRecord]:
        """The records for ``fields`` linked after ``head``, each sealed (the key looked up once for all of them).

        The records of one call share one timestamp, the time they were linked at: they are one atomic append (a
        ``log_many`` batch, or the ``log()`` calls of one commit group), ordered by their sequence numbers.
        With ``sealed`` given, what :func:`seal` returned for each record is added to it, for ``append_sealed``.
        """
        seq, prev = head
        key_hash = hasher(get_checksum_key())
        records = []
        # a large batch's ids in one go; otherwise one at a time from the pool (no list for a lone log())
        new_id = iter(generate_audit_ids(len(fields))).__next__ if len(fields) >= BATCH_IDS else generate_audit_id
        ts = datetime.now(timezone.utc)
        ts_text = utc_iso(ts)
        for f in fields:
            seq += 1
            rec = AuditRecord(
                new_id(), seq, ts, f["event_type"], f["severity"], tenant,
                f["pipeline_id"], f["run_id"], f["agent_name"], f["step_name"], f["actor_type"], f["actor_id"],
                f["actor_ip"], "", f["action"], f["resource_type"], f["resource_id"], f["old_value"],
                f["new_value"], f["success"], f["error_message"], f["metadata"], f["tags"], _UNSEALED, prev,
            )
            texts = seal(rec, key_hash, ts_text)
            if sealed is not None:
                sealed.append(texts)
            prev = rec.checksum
            records.append(rec)
        return records

    async def _append_linked(self, tenant: str, fields: list[dict[str, Any]]) -> list[AuditRecord]:
        """Append records for ``fields`` at the tenant head; on a rejected sequence back off and retry.

        The first attempt links at the cached head (one round trip); a retry lets the store read the head and
        append under its per-tenant serialisation (:meth:`AuditStoreBase.append_linked`).
        """
        store = self._store
        if len(fields) > 1 and not store.atomic_batches:
            return [rec for f in fields for rec in await self._append_linked(tenant, [f])]
        head = self._heads.get(tenant) or await self._head(tenant)  # the cached head without a coroutine call
        sealed: list[tuple[str, ...] | None] = []
        records = self._link(tenant, head, fields, sealed)
        try:
            await store.append_sealed(records, sealed)  # append / append_many unless the store writes the texts
        except AuditStorageError:
            if not await self._lost_race(tenant, head, 0):
                raise
            records = await self._append_at_store_head(tenant, fields)
        self._heads[tenant] = (records[-1].sequence_number, records[-1].checksum)
        return records

    async def _append_at_store_head(self, tenant: str, fields: list[dict[str, Any]]) -> list[AuditRecord]:
        """Retries after a lost race: the store links ``fields`` at its head (:meth:`AuditStoreBase.append_linked`)."""
        used: list[tuple[int, str]] = []  # the head each attempt linked at

        def link(head: tuple[int, str]) -> list[AuditRecord]:
            used.append(head)
            return self._link(tenant, head, fields)

        for attempt in range(1, MAX_RETRIES):
            used.clear()
            try:
                return await self._store.append_linked(tenant, link)
            except AuditStorageError:
                if not used:
                    self._heads.pop(tenant, None)
                    raise  # failed before linking: not a lost race
                if not await self._lost_race(tenant, used[-1], attempt):
                    raise
        raise AuditStorageError(f"could not append to tenant {tenant!r}'s audit chain after {MAX_RETRIES} retries")

    async def _commit_one(self, tenant: str, f: dict[str, Any]) -> AuditRecord:
        """Link and append one write-through log() call's record on its own (a lone caller)."""
        lock = self._lock(tenant)
        await lock.acquire()  # not ``async with``: its two extra coroutines per call cost more than the append
        try:
            return (await self._append_linked(tenant, [f]))[0]
        finally:
            lock.release()

    async def _lost_race(self, tenant: str, head: tuple[int, str], attempt: int) -> bool:
        """After the store refused records linked at ``head``: was it a lost race (the tenant's head moved)?

        Forgets the cached head; on a lost race backs off (``attempt``) before returning True. False means a real
        failure: the head did not move, so the store refused the records themselves.
        """
        self._heads.pop(tenant, None)
        if await self._head(tenant) == head:
            return False
        logger.debug("audit head of tenant %r moved under us; retrying at the new head", tenant)
        await backoff(attempt)
        return True

    async def _commit_group(self, batch: list[Entry]) -> Outcome:
        """Link and append a group of queued log() calls in one transaction (see :mod:`llmteam.audit._group`)."""
        if len(batch) == 1:  # a lone caller: one tenant, one lock
            return [await self._commit_one(batch[0][0], batch[0][1])]
        by_tenant: dict[str, list[int]] = {}
        for i, (tenant, _, _) in enumerate(batch):
            by_tenant.setdefault(tenant, []).append(i)
        tenants = sorted(by_tenant)  # one lock order for every caller: no deadlock
        async with contextlib.AsyncExitStack() as stack:
            for tenant in tenants:
                await stack.enter_async_context(self._lock(tenant))
            if len(tenants) == 1:
                return list(await self._append_linked(tenants[0], [f for _, f, _ in batch]))
            for _ in range(MAX_RETRIES):
                records: list[AuditRecord] = []
                sealed: list[tuple[str, ...] | None] = []
                for tenant in tenants:
                    fields = [batch[i][1] for i in by_tenant[tenant]]
                    records += self._link(tenant, await self._head(tenant), fields, sealed)
                try:
                    await self._store.append_sealed(records, sealed)
                except AuditStorageError:
                    before = {t: self._heads.pop(t, None) for t in tenants}
                    if [await self._head(t) for t in tenants] != [before[t] for t in tenants]:
                        logger.debug("audit heads moved under a commit group; retrying at the new heads")
                        await backoff(_)
                        continue
                    return await self._commit_each(batch, by_tenant)  # a real failure: isolate it per tenant
                outcome: Outcome = [None] * len(batch)  # type: ignore[list-item]
                for i, rec in zip((i for t in tenants for i in by_tenant[t]), records, strict=True):
                    outcome[i] = rec
                    self._heads[rec.tenant_id] = (rec.sequence_number, rec.checksum)
                return outcome
        raise AuditStorageError(f"could not append a commit group to tenants {tenants!r} after {MAX_RETRIES} retries")

    async def _commit_each(self, batch: list[Entry], by_tenant: dict[str, list[int]]) -> Outcome:
        """Commit each tenant's part of a failed group on its own; a tenant's error goes to its callers only."""
        outcome: Outcome = [None] * len(batch)  # type: ignore[list-item]
        for tenant, idx in by_tenant.items():
            try:
                results: Outcome = list(await self._append_linked(tenant, [batch[i][1] for i in idx]))
            except Exception as exc:  # reported to this tenant's callers only
                results = [exc] * len(idx)
            for i, res in zip(idx, results, strict=True):
                outcome[i] = res
        return outcome

    async def log(self, event_type: AuditEventType, **kwargs: Any) -> AuditRecord:
        """Record one event for the current tenant; with write_through (default) it is stored when this returns.

        Keyword arguments: severity, actor_type ("system"), actor_id, actor_ip, action, resource_type, resource_id,
        old_value, new_value, success, error_message, metadata, tags, pipeline_id, run_id, agent_name, step_name.
        """
        f = event_fields(event_type, kwargs)
        tenant = self.tenant_id
        if self.write_through:
            if self._group is not None:
                return await self._group.submit(tenant, f)
            return await self._commit_one(tenant, f)
        async with self._lock(tenant):
            rec = self._link(tenant, await self._head(tenant), [f])[0]
            self._buffer.append(rec)
            self._heads[tenant] = (rec.sequence_number, rec.checksum)
        full = len(self._buffer) >= self.buffer_size
        if (self.auto_flush and full) or len(self._buffer) >= max(HARD_BUFFER_CAP, self.buffer_size):
            await self.flush()
        return rec.copy()

    async def log_many(self, events: list[dict[str, Any]]) -> list[AuditRecord]:
        """Record many events (dicts of log()'s arguments incl. ``event_type``) in one atomic, durable batch."""
        fields = []
        for event in events:
            args = dict(event)
            if "event_type" not in args:
                raise ValueError(f"event {event!r} has no event_type")
            fields.append(event_fields(args.pop("event_type"), args))
        if not fields:
            return []
        tenant = self.tenant_id
        if not self.write_through:
            return [await self.log(f.pop("event_type"), **f) for f in fields]  # fields are private copies
        async with self._lock(tenant):
            return await self._append_linked(tenant, fields)

    async def flush(self) -> None:
        """Append buffered records; a record leaves the buffer only once stored, so a failure never duplicates."""
        async with self._flush_lock:
            while self._buffer:
                tenant = self._buffer[0].tenant_id
                async with self._lock(tenant):
                    pending = [r for r in self._buffer if r.tenant_id == tenant]
                    await self._flush_tenant(tenant, pending)

    async def _flush_tenant(self, tenant: str, pending: list[AuditRecord]) -> None:
        for _ in range(MAX_RETRIES):
            try:
                if self._store.atomic_batches:
                    await self._store.append_many(pending)
                    self._remove(pending)
                else:
                    while pending:
                        await self._store.append(pending[0])
                        self._remove(pending[:1])
                        del pending[0]
                return
            except AuditStorageError:
                seq, prev = await self._store_head(tenant)
                if pending and pending[0].sequence_number == seq + 1 and pending[0].previous_checksum == prev:
                    raise  # not a lost race: the store refused the records themselves
                renumbered = []
                for rec in pending:  # another writer took our numbers: move the buffered records after it
                    seq += 1
                    new = replace(rec, sequence_number=seq, previous_checksum=prev, checksum="")
                    prev = new.checksum
                    renumbered.append(new)
                self._buffer = [renumbered[pending.index(r)] if r in pending else r for r in self._buffer]
                pending = renumbered
                self._heads[tenant] = (seq, prev)
        raise AuditStorageError(f"could not flush tenant {tenant!r}'s audit records after {MAX_RETRIES} retries")

    def _remove(self, done: list[AuditRecord]) -> None:
        ids = {id(r) for r in done}
        self._buffer = [r for r in self._buffer if id(r) not in ids]

    # -- reading -------------------------------------------------------------------------------------
    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        """Records of the trail's tenant matching ``q``; another tenant needs ``allow_cross_tenant``."""
        await self.flush()
        own = self.tenant_id
        nq = replace(q)
        if nq.tenant_id is None:
            nq.tenant_id = own
        elif nq.tenant_id != own and not self.allow_cross_tenant:
            raise PermissionError(
                f"audit query for tenant {nq.tenant_id!r} from a trail of tenant {own!r}; "
                "construct the trail with allow_cross_tenant=True to allow it"
            )
        return await self._store.query(nq)

    async def verify_chain(self, start_sequence: int = 1, end_sequence: int | None = None) -> tuple[bool, list[int]]:
        """``(True, [])`` if intact; ``(False, missing)`` on gaps; ``(False, [])`` on a bad checksum or link.

        Without ``end_sequence``: up to the last record or the stored checkpoint's size (its records gone: missing).
        """
        await self.flush()
        tenant = self.tenant_id
        if end_sequence is None:
            end_sequence = await self._store.get_last_sequence(tenant)
            checkpoint = await self._store.latest_checkpoint(tenant)
            if checkpoint is not None and type(checkpoint.get("tree_size")) is int:
                end_sequence = max(end_sequence, checkpoint["tree_size"])
        if end_sequence < max(1, start_sequence):
            return True, []
        result = await verify_chain_range(self._store, tenant, start_sequence, end_sequence)
        if result.missing:
            return False, sorted(result.missing)
        return result.valid, []

    async def generate_report(self, start: datetime, end: datetime, include_records: bool = False) -> AuditReport:
        """A report over all of the tenant's records in [start, end], read page by page."""
        await self.flush()
        return await build_report(self, self.tenant_id, start, end, include_records)

    def __repr__(self) -> str:
        mode = "write-through" if self.write_through else f"buffered({self.buffer_size})"
        return f"AuditTrail(store={type(self.store).__name__}, tenant={self.tenant_id!r}, {mode})"


class TenantAwareAuditTrail(AuditTrail):
    """An AuditTrail that always follows the tenant context (``tenant_id=""``, ``use_context_tenant=True``)."""

    def __init__(self, store: AuditStoreBase | AuditStore) -> None:
        super().__init__(store, tenant_id="", use_context_tenant=True)

