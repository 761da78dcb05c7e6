"""Attacks on the audit log (issue 11): each test makes the attacker's move and asserts it fails."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmteam.audit import AuditEventType, AuditLedger, AuditQuery, AuditRecord, AuditTrail, SigningKey
from llmteam.audit._errors import AuditError, AuditStorageError
from llmteam.audit.stores import MemoryAuditStore, PostgresAuditStore, SQLiteAuditStore
from llmteam.audit.verifier import VerificationError, load_public_key, verify_checkpoint
from llmteam.cli.audit import app
from llmteam.tenancy import TenantContext, current_tenant

runner = CliRunner()
CRAFTED = "acme\n5\n" + "ab" * 32  # a tenant id that spells another tenant's checkpoint fields


def seed(db: Path, tenant: str = "acme", n: int = 3) -> str:
    async def go() -> None:
        store = SQLiteAuditStore(db)
        await AuditTrail(store, tenant_id=tenant, use_context_tenant=False).log_many(
            [{"event_type": AuditEventType.DATA_CREATED, "actor_id": f"u{i}"} for i in range(n)])
        await store.close()

    asyncio.run(go())
    return f"sqlite:///{db}"


def insert_raw(db: Path, **changes: Any) -> None:
    """The attacker's INSERT (the only write the append-only triggers allow): a copy of row 1 with ``changes``."""
    conn = sqlite3.connect(db)
    try:
        cur = conn.execute("SELECT * FROM audit_log WHERE sequence_number = 1 LIMIT 1")
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
        row.update(changes)
        conn.execute(f"INSERT INTO audit_log ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
                     list(row.values()))
        conn.commit()
    finally:
        conn.close()


def forge_from(cp: dict[str, Any]) -> dict[str, Any]:
    """Re-read a checkpoint signed for CRAFTED as tenant acme's checkpoint of size 5 with an attacker root."""
    return {
        **cp, "tenant_id": "acme", "tree_size": 5, "root_hash": "ab" * 32,
        "issued_at": f"{cp['tree_size']}\n{cp['root_hash']}\n{cp['issued_at']}",
    }


# -- item 1: cross-tenant checkpoint forgery ------------------------------------------------------------------------

def test_a_crafted_tenant_row_does_not_yield_a_checkpoint_for_another_tenant(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed(db)
    insert_raw(db, tenant_id=CRAFTED)  # attacker: one row under a tenant id that spells acme's fields
    res = runner.invoke(app, ["checkpoint", "--db", url])  # the operator's routine command
    pub = load_public_key((tmp_path / "a.db.audit-signing.key.pub").read_text())
    signed = json.loads(res.stdout) if res.exit_code == 0 else []
    for item in signed:
        forged = forge_from(item["checkpoint"])
        with pytest.raises(VerificationError):
            verify_checkpoint(forged, pub)
    assert res.exit_code == 1 and "control" in res.output  # the crafted tenant is refused, by name
    with pytest.raises(AuditError, match="refusing to sign"):
        SigningKey.generate().sign_checkpoint(CRAFTED, 1, "00" * 32)


def test_a_signed_checkpoint_cannot_be_reinterpreted_field_by_field() -> None:
    key = SigningKey.generate()
    cp = key.sign_checkpoint("acme\\5", 7, "cd" * 32)
    verify_checkpoint(cp, key.public_key)
    for forged in (
        {**cp, "tenant_id": "acme", "tree_size": 5},
        {**cp, "issued_at": cp["issued_at"] + "\n"},
        {**cp, "issued_at": "2026-01-01T00:00:00+00:00\nacme"},
        {**cp, "tree_size": "7"},
        {**cp, "root_hash": "CD" * 32},
        {**cp, "version": 1},
        {**cp, "extra": "x"},
        forge_from(cp),
    ):
        with pytest.raises(VerificationError):
            verify_checkpoint(forged, key.public_key)


def test_audit_verify_with_the_forged_checkpoint_and_public_key_is_not_ok(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed(db)
    key = SigningKey.load_or_create(tmp_path / "a.db.audit-signing.key")
    # what the old signer produced for the crafted tenant (newline-joined message), re-read as acme's
    legacy = b"llmteam-audit-checkpoint/v1\n" + f"{CRAFTED}\n1\n{'ef' * 32}\n2026-01-01T00:00:00+00:00\n".encode()
    import base64

    forged = {"version": 1, "tenant_id": "acme", "tree_size": 5, "root_hash": "ab" * 32,
              "issued_at": f"1\n{'ef' * 32}\n2026-01-01T00:00:00+00:00",
              "signature": base64.b64encode(key._private.sign(legacy)).decode()}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    res = runner.invoke(app, ["verify", "--db", url, "--checkpoint", str(tmp_path / "forged.json"),
                              "--public-key", str(tmp_path / "a.db.audit-signing.key.pub")])
    assert res.exit_code == 1 and "ok" not in res.stdout.split()


# -- item 2: rows outside the chain -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seq", [0, -7])
def test_inserting_a_row_outside_the_chain_is_refused_by_the_schema(tmp_path: Path, seq: int) -> None:
    db = tmp_path / "a.db"
    seed(db)
    with pytest.raises(sqlite3.IntegrityError):
        insert_raw(db, sequence_number=seq, record_id="forged", action="wire money")


def test_rows_outside_the_chain_in_an_old_database_are_never_served(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    from llmteam.audit.stores._sqlite import _ddl

    conn = sqlite3.connect(db)  # a table as schema v1 created it: no CHECK, no trigger
    conn.execute(_ddl("audit_log")[0].replace(", CHECK (sequence_number >= 1)", ""))
    conn.commit()
    conn.close()
    url = seed(db)
    conn = sqlite3.connect(db)  # rows that got in while the file was still v1 (before the trigger existed)
    conn.execute("DROP TRIGGER audit_log_seq_positive")
    conn.commit()
    conn.close()
    insert_raw(db, sequence_number=0, record_id="forged0", action="wire money")
    insert_raw(db, sequence_number=-7, record_id="forged7", action="wire money")

    async def reads() -> tuple[list[str], int, int, list[str]]:
        store = SQLiteAuditStore(db)
        trail = AuditTrail(store, tenant_id="acme", use_context_tenant=False)
        got = [r.record_id for r in await trail.query(AuditQuery(limit=100))]
        now = datetime.now(timezone.utc)
        report = await trail.generate_report(now - timedelta(days=1), now + timedelta(days=1), include_records=True)
        ids = [r["record_id"] if isinstance(r, dict) else r.record_id for r in (report.records or [])]
        count = await store.count("acme")
        with pytest.raises(AuditStorageError):  # the v2 schema step closes the hole for new rows
            await store.append(AuditRecord("x", 0, now, AuditEventType.DATA_CREATED, tenant_id="acme"))
        await store.close()
        return got, report.total_events, count, ids

    got, total, count, ids = asyncio.run(reads())
    assert "forged0" not in got and "forged7" not in got and len(got) == 3
    assert total == 3 and count == 3 and not {"forged0", "forged7"} & set(ids)
    exported = runner.invoke(app, ["export", "--db", url])
    assert exported.exit_code == 0 and "forged" not in exported.stdout
    verdict = runner.invoke(app, ["verify", "--db", url, "--json"])
    assert verdict.exit_code == 1 and "outside the chain" in json.loads(verdict.stdout)[0]["problems"][0]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """One audit store of each backend (closed by the test; the PostgreSQL pool by its fixture)."""
    if request.param == "memory":
        return MemoryAuditStore()
    if request.param == "sqlite":
        return SQLiteAuditStore(tmp_path / "s.db")
    return PostgresAuditStore(request.getfixturevalue("pg_pool"))


@pytest.mark.parametrize("seq", [0, -7])
async def test_every_store_refuses_sequence_numbers_below_one(any_store: Any, seq: int) -> None:
    rec = AuditRecord("r", seq, datetime.now(timezone.utc), AuditEventType.DATA_CREATED, tenant_id="acme")
    with pytest.raises(AuditStorageError, match="must be an int from 1 to"):
        await any_store.append(rec)
    assert await any_store.query(AuditQuery(tenant_id="acme")) == []
    await any_store.close()


async def test_postgres_schema_refuses_a_raw_insert_outside_the_chain(pg_pool: Any) -> None:
    store = PostgresAuditStore(pg_pool)
    await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log(AuditEventType.DATA_CREATED)
    import asyncpg

    async with pg_pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE forged AS SELECT * FROM audit_log; UPDATE forged SET sequence_number = 0")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO audit_log SELECT * FROM forged")
        await conn.execute("INSERT INTO audit_log_checkpoints (tenant_id, tree_size, body) VALUES ('acme', 1, '{}')")
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("DELETE FROM audit_log_checkpoints")


# -- item 4: checkpoints the database cannot rewrite -------------------------------------------------------------------

def test_checkpoint_rows_cannot_be_deleted_or_edited(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed(db)
    assert runner.invoke(app, ["checkpoint", "--db", url]).exit_code == 0
    conn = sqlite3.connect(db)
    for sql in ("DELETE FROM audit_log_checkpoints", "UPDATE audit_log_checkpoints SET tree_size = 0"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_a_replaced_chain_fails_against_the_checkpoint_the_auditor_holds(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed(db, n=4)
    held = runner.invoke(app, ["checkpoint", "--tenant", "acme", "--db", url])
    (tmp_path / "held.json").write_text(held.stdout)
    # attacker with the file: drops the triggers, replaces the whole chain, drops the stored checkpoints
    conn = sqlite3.connect(db)
    conn.executescript("DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_log_checkpoints_no_delete;"
                       "DELETE FROM audit_log; DELETE FROM audit_log_checkpoints;")
    conn.close()
    seed(db, n=4)
    assert runner.invoke(app, ["verify", "--db", url]).exit_code == 0  # the database alone cannot tell
    res = runner.invoke(app, ["verify", "--db", url, "--checkpoint", str(tmp_path / "held.json"),
                              "--public-key", str(tmp_path / "a.db.audit-signing.key.pub"), "--json"])
    assert res.exit_code == 1 and "no longer match" in json.loads(res.stdout)[0]["problems"][0]


# -- item 5: one tenant-id rule at every entry point -------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["acme\nx", "a\tb", "a\x7f", "a\x1b[2J", "x" * 10_000])
async def test_bad_tenant_ids_are_refused_by_context_trail_and_stores(bad: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        TenantContext(bad)
    with pytest.raises(ValueError, match="tenant"):
        AuditTrail(MemoryAuditStore(), tenant_id=bad)
    trail = AuditTrail(MemoryAuditStore())
    token = current_tenant.set(bad)  # the context variable set directly, bypassing TenantContext
    try:
        with pytest.raises(ValueError, match="tenant"):
            await trail.log(AuditEventType.DATA_CREATED)
    finally:
        current_tenant.reset(token)
    rec = AuditRecord("r", 1, datetime.now(timezone.utc), AuditEventType.DATA_CREATED, tenant_id=bad)
    with pytest.raises(AuditStorageError, match="tenant"):
        await MemoryAuditStore().append(rec)


# -- item 8: the ts_us column is verified -----------------------------------------------------------------------------

def test_editing_the_stored_ts_us_column_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed(db)
    conn = sqlite3.connect(db)
    conn.executescript("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET ts_us = 0 WHERE sequence_number = 2;")
    conn.close()
    res = runner.invoke(app, ["verify", "--db", url, "--json"])
    assert res.exit_code == 1 and "ts_us" in json.loads(res.stdout)[0]["problems"][0]


# -- item 14: no write through a planted symlink ----------------------------------------------------------------------

def test_the_public_key_file_is_not_written_through_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "k.pub").symlink_to(victim)  # attacker plants <key>.pub -> a file the operator can write
    key = SigningKey.load_or_create(tmp_path / "k")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "k.pub").is_symlink() and (tmp_path / "k.pub").read_text().strip() == key.public_key_b64


def test_the_private_key_is_not_created_through_a_planted_symlink(tmp_path: Path) -> None:
    (tmp_path / "k").symlink_to(tmp_path / "attacker-reads-this")
    with pytest.raises(AuditError, match="symlink"):
        SigningKey.load_or_create(tmp_path / "k")
    assert not (tmp_path / "attacker-reads-this").exists()


# -- item 16: bounded per-tenant state --------------------------------------------------------------------------------

async def test_per_tenant_trail_and_memory_store_state_stays_bounded() -> None:
    from llmteam.audit._trail import MAX_TENANT_STATE

    store = MemoryAuditStore(max_records=100)
    trail = AuditTrail(store)
    for i in range(MAX_TENANT_STATE + 500):
        async with TenantContext(f"t{i}"):
            await trail.log(AuditEventType.DATA_CREATED)
    assert len(trail._locks) <= MAX_TENANT_STATE and len(trail._heads) <= MAX_TENANT_STATE
    assert len(store._tenants) <= 100 and len(store._last) <= 100
    async with TenantContext("t5"):  # a forgotten tenant continues its chain from the store
        assert (await trail.verify_chain())[0]
    from llmteam.audit._ledger import MAX_CACHED_TREES

    ledger = AuditLedger(store, SigningKey.generate())
    for tenant in await store.tenants():
        await ledger.tree(tenant)
    assert len(ledger._trees) <= MAX_CACHED_TREES


# -- item 22: str subclasses in audit fields ---------------------------------------------------------------------------

async def test_a_str_enum_as_an_audit_field_is_logged_as_its_text() -> None:
    import enum

    class Action(enum.StrEnum):
        READ = "read"

    trail = AuditTrail(MemoryAuditStore(), tenant_id="acme")
    rec = await trail.log(AuditEventType.DATA_CREATED, action=Action.READ, severity="info")
    assert type(rec.action) is str and rec.action == "read" and rec.verify_integrity()


def test_sensitive_digest_is_keyed_per_tenant_and_absent_without_a_key() -> None:
    from llmteam.audit import sensitive_digest, set_checksum_key

    set_checksum_key(b"k" * 32)
    try:
        keyed = sensitive_digest("acme", "42")
        assert keyed is not None and keyed != hashlib.sha256(b"42").hexdigest()
        assert keyed != sensitive_digest("other", "42")  # per-tenant: one tenant's digest says nothing to another
    finally:
        set_checksum_key(None)
    assert sensitive_digest("acme", "42") is None  # no key configured: no guessable digest at all


def test_xes_export_is_not_written_through_a_symlink_at_the_old_predictable_temp_name(tmp_path: Path) -> None:
    import os

    from llmteam.roles._xes import write_xes

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "log.xes"
    Path(f"{out}.tmp-{os.getpid()}").symlink_to(victim)  # attacker plants the name the writer used to pick
    write_xes(out, [])
    assert victim.read_text() == "precious\n" and "<log" in out.read_text()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name and not p.is_symlink()] == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_every_entry_point_applies_the_one_tenant_id_rule(tenant_id: str) -> None:
    from llmteam.tenancy import TenantConfig
    from llmteam.tenancy._validation import validate_tenant_id

    def accepts(make: Any) -> bool:
        try:
            make()
        except (ValueError, AuditStorageError):
            return False
        return True

    expected = accepts(lambda: validate_tenant_id(tenant_id))
    assert accepts(lambda: TenantContext(tenant_id)) == expected
    assert accepts(lambda: TenantConfig(tenant_id=tenant_id, name="n")) == expected
    assert accepts(lambda: AuditTrail(MemoryAuditStore(), tenant_id=tenant_id)) == (expected or tenant_id == "")
    rec = AuditRecord("r", 1, datetime.now(timezone.utc), AuditEventType.DATA_CREATED, tenant_id=tenant_id)
    assert accepts(lambda: asyncio.run(MemoryAuditStore().append(rec))) == expected


async def test_isolated_kv_store_refuses_a_bad_tenant_set_directly_on_the_context_variable() -> None:
    from llmteam.tenancy import CrossTenantStore, TenantContextError, TenantIsolatedStore
    from llmteam.tenancy.stores import MemoryKeyValueStore

    store = TenantIsolatedStore(MemoryKeyValueStore())
    token = current_tenant.set("acme\x1b[2J")
    try:
        with pytest.raises(TenantContextError, match="control"):
            await store.set("k", "v")
    finally:
        current_tenant.reset(token)
    with pytest.raises(TenantContextError, match="control"):
        await CrossTenantStore(MemoryKeyValueStore()).set_for_tenant("a\nb", "k", "v")
