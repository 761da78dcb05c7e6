"""Every store kind has one base class: llmteam's stores subclass it on every backend, and an object that only
satisfies the contract Protocol gets correct default capabilities (nobody probes a store with hasattr)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import AuditEventType, AuditQuery, AuditRecord, AuditStoreBase, AuditTrail
from llmteam.audit.stores import open_audit_store
from llmteam.ratelimit import RateLimitBackend, backend_from_url
from llmteam.roles import EventLogBase, open_event_log
from llmteam.team import RunStore, open_run_store
from llmteam.tenancy import KeyValueStoreBase, TenantContext, TenantIsolatedStore, TenantStoreBase
from llmteam.tenancy.stores import open_kv_store, open_tenant_store

OPENERS = [
    (open_audit_store, AuditStoreBase), (open_tenant_store, TenantStoreBase), (open_kv_store, KeyValueStoreBase),
    (open_event_log, EventLogBase), (open_run_store, RunStore),
]


@pytest.fixture
def store_url(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    # sync on purpose: the async pg fixtures are set up here, before the test's loop runs
    if store_backend == "memory":
        return "memory://"
    if store_backend == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.mark.parametrize(("opener", "base"), OPENERS, ids=lambda x: getattr(x, "__name__", ""))
async def test_every_store_subclasses_its_kind_base(store_url: str, opener: Any, base: type) -> None:
    store = opener(store_url)
    try:
        assert isinstance(store, base)
    finally:
        await store.close()


def test_rate_limit_backends_subclass_their_base() -> None:
    assert isinstance(backend_from_url("memory://"), RateLimitBackend)


class ContractOnlyAuditStore:
    """The four contract methods and nothing else (contract §4.5)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], AuditRecord] = {}

    async def append(self, record: AuditRecord) -> None:
        from llmteam.audit import AuditStorageError

        key = (record.tenant_id, record.sequence_number)
        if key in self.records:
            raise AuditStorageError(f"duplicate {key}")
        self.records[key] = record.copy()

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        return [r.copy() for r in self.records.values() if q.tenant_id in (None, r.tenant_id)][: q.limit]

    async def get_last_sequence(self, tenant_id: str) -> int:
        return max((s for t, s in self.records if t == tenant_id), default=0)

    async def get_by_sequence_range(self, tenant_id: str, start: int, end: int) -> list[AuditRecord]:
        return [r.copy() for (t, s), r in sorted(self.records.items()) if t == tenant_id and start <= s <= end]


async def test_a_contract_only_audit_store_gets_correct_defaults() -> None:
    store = ContractOnlyAuditStore()
    a, b = (AuditTrail(store, tenant_id="acme", use_context_tenant=False) for _ in range(2))
    await asyncio.gather(*(t.log(AuditEventType.DATA_CREATED) for t in (a, b) for _ in range(10)))
    await a.log_many([{"event_type": AuditEventType.DATA_CREATED}] * 5)  # one by one: not an atomic store
    assert await b.verify_chain() == (True, [])
    assert await store.get_last_sequence("acme") == 25


class ContractOnlyKV:
    """The five KeyValueStore methods and nothing else."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str) -> Any | None:
        return self.data.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def list(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))

    async def exists(self, key: str) -> bool:
        return key in self.data


async def test_a_contract_only_kv_store_gets_correct_batch_defaults() -> None:
    iso = TenantIsolatedStore(ContractOnlyKV())
    with TenantContext("acme"):
        await iso.set_many({"a": 1, "b": 2})
        assert await iso.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        assert await iso.delete_many(["a", "c"]) == 1
    with TenantContext("beta"):
        assert await iso.get_many(["b"]) == {}
