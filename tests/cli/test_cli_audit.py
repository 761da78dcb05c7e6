"""``llmteam audit``: verify, export, prove (accepted by the standalone verifier), checkpoint."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmteam.audit import AuditEventType, AuditTrail
from llmteam.audit.stores import SQLiteAuditStore
from llmteam.audit.stores._sql import COLUMNS
from llmteam.audit.verifier import load_public_key, verify_inclusion_bundle
from llmteam.cli.audit import app

runner = CliRunner()


def seed(db: Path, n: int = 12) -> str:
    async def go() -> None:
        store = SQLiteAuditStore(db)
        await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log_many(
            [{"event_type": AuditEventType.DATA_CREATED, "actor_id": f"u{i}"} for i in range(n)])
        await store.close()

    asyncio.run(go())
    return f"sqlite:///{db}"


def test_checkpoint_prove_verify_export(tmp_path: Path) -> None:
    url = seed(tmp_path / "a.db")
    cp = runner.invoke(app, ["checkpoint", "--tenant", "acme", "--db", url])
    assert cp.exit_code == 0, cp.output
    assert json.loads(cp.output)["checkpoint"]["tree_size"] == 12
    assert (tmp_path / "a.db.audit-signing.key").stat().st_mode & 0o777 == 0o600
    proof = runner.invoke(app, ["prove", "5", "--tenant", "acme", "--db", url])
    pub = load_public_key((tmp_path / "a.db.audit-signing.key.pub").read_text())
    verify_inclusion_bundle(json.loads(proof.output), pub)
    ok = runner.invoke(app, ["verify", "--db", url, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)[0]["records_checked"] == 12
    out = tmp_path / "x.jsonl"
    assert runner.invoke(app, ["export", "--format", "jsonl", "--out", str(out), "--db", url]).exit_code == 0
    assert len(out.read_text().splitlines()) == 12
    csv_out = runner.invoke(app, ["export", "--format", "csv", "--db", url])
    assert csv_out.exit_code == 0 and len(csv_out.output.strip().splitlines()) == 13
    assert runner.invoke(app, ["export", "--format", "xml", "--db", url]).exit_code != 0


def test_verify_detects_truncation_and_edits(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed(db)
    assert runner.invoke(app, ["checkpoint", "--db", url]).exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log WHERE sequence_number = 12")
    conn.commit()
    conn.close()
    res = runner.invoke(app, ["verify", "--db", url])
    assert res.exit_code == 1 and "truncated" in res.output
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor_id = 'mallory' WHERE sequence_number = 3")
    conn.commit()
    conn.close()
    res = runner.invoke(app, ["verify", "--db", url, "--json"])
    assert res.exit_code == 1 and json.loads(res.output)[0]["first_broken"] == 3


# -- issue 12 items 6-9, issue 11 items 4 and 18: false assurance and tracebacks ----------------------------------

def _one_line_error(res: object, code: int) -> str:
    out = res.output  # type: ignore[attr-defined]
    assert res.exit_code == code, out  # type: ignore[attr-defined]
    assert "Traceback" not in out
    assert res.exception is None or isinstance(res.exception, SystemExit)  # type: ignore[attr-defined]
    assert len(out.strip().splitlines()) == 1, out
    return str(out)


def test_reading_commands_refuse_a_missing_database_and_create_nothing(tmp_path: Path) -> None:
    from llmteam.cli.tenants import app as tenants_app

    url = f"sqlite:///{tmp_path}/nodir/typo.db"
    for args in (["verify"], ["export"], ["prove", "1"], ["checkpoint"]):
        assert "no database" in _one_line_error(runner.invoke(app, [*args, "--db", url]), 1)
    assert "no database" in _one_line_error(runner.invoke(tenants_app, ["list", "--db", url]), 1)
    assert not (tmp_path / "nodir").exists()


def test_unknown_tenants_are_errors_not_ok(tmp_path: Path) -> None:
    url = seed(tmp_path / "a.db")
    for args in (["verify", "--tenant", "nosuch"], ["checkpoint", "--tenant", "nosuch"]):
        assert "'nosuch' has no audit records" in _one_line_error(runner.invoke(app, [*args, "--db", url]), 1)
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("SELECT count(*) FROM audit_log_checkpoints").fetchone()[0] == 0
    conn.close()


def test_prove_out_of_range_gives_one_clear_line(tmp_path: Path) -> None:
    url = seed(tmp_path / "a.db", n=3)
    assert "'default' has no audit records" in _one_line_error(runner.invoke(app, ["prove", "3", "--db", url]), 1)
    for seq in ("999", "999999"):
        out = _one_line_error(runner.invoke(app, ["prove", seq, "--tenant", "acme", "--db", url]), 1)
        assert "has 3 audit records" in out
    assert "numbered from 1" in _one_line_error(runner.invoke(app, ["prove", "0", "--tenant", "acme", "--db", url]), 2)


def test_bad_db_url_and_bad_public_key_are_usage_errors(tmp_path: Path) -> None:
    assert "bogus" in _one_line_error(runner.invoke(app, ["verify", "--db", "bogus://x"]), 2)
    url = seed(tmp_path / "a.db")
    res = runner.invoke(app, ["verify", "--db", url, "--public-key", "/etc/passwd"])
    assert "not an Ed25519 public key" in _one_line_error(res, 2)


def test_checkpoint_output_round_trips_through_the_standalone_verifier(tmp_path: Path) -> None:
    from llmteam.audit.verifier import main as verifier_main

    db = tmp_path / "a.db"
    url = seed(db, n=5)
    pub = str(tmp_path / "a.db.audit-signing.key.pub")
    first = runner.invoke(app, ["checkpoint", "--tenant", "acme", "--db", url])
    (tmp_path / "old.json").write_text(first.stdout)
    assert verifier_main(["--public-key", pub, str(tmp_path / "old.json")]) == 0
    seed(db, n=4)
    seed(db, n=2)
    middle = runner.invoke(app, ["checkpoint", "--tenant", "acme", "--db", url])  # size 9, proof from 5
    assert json.loads(middle.stdout)["consistency"]["first"] == 5
    seed(db, n=1)
    newest = runner.invoke(app, ["checkpoint", "--tenant", "acme", "--db", url])  # size 12, proof from 9
    (tmp_path / "new.json").write_text(newest.stdout)
    # the auditor holds the size-5 checkpoint; the newest output proves from 9: "cannot check", not "tampered"
    assert verifier_main(["--public-key", pub, str(tmp_path / "new.json"), str(tmp_path / "old.json")]) == 2
    matching = runner.invoke(app, ["checkpoint", "--tenant", "acme", "--db", url, "--consistency-from", "5"])
    (tmp_path / "match.json").write_text(matching.stdout)
    assert verifier_main(["--public-key", pub, str(tmp_path / "match.json"), str(tmp_path / "old.json")]) == 0
    everyone = runner.invoke(app, ["checkpoint", "--db", url])  # a list: the verifier says what to do
    (tmp_path / "all.json").write_text(everyone.stdout)
    assert verifier_main(["--public-key", pub, str(tmp_path / "all.json")]) == 1


def test_verifier_module_runs_without_runpy_warning_and_names_real_commands(tmp_path: Path) -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "llmteam.audit.verifier", "--help"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "RuntimeWarning" not in res.stderr, res.stderr
    assert "llmteam audit checkpoint --tenant T --consistency-from" in " ".join(res.stdout.split())
    assert "--consistency-from" in runner.invoke(app, ["checkpoint", "--help"]).output


def test_a_garbage_or_version_1_checkpoint_row_gives_a_clear_answer(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed(db, n=3)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO audit_log_checkpoints (tenant_id, tree_size, body) VALUES ('acme', 3, ?)",
                 (json.dumps({"version": 1, "tenant_id": "acme", "tree_size": 3, "root_hash": "00" * 32,
                              "issued_at": "x", "signature": ""}),))
    conn.commit()
    proof = runner.invoke(app, ["prove", "2", "--tenant", "acme", "--db", url])  # signs a fresh v2 checkpoint
    assert proof.exit_code == 0 and json.loads(proof.stdout)["checkpoint"]["version"] == 2
    conn.execute("INSERT INTO audit_log_checkpoints (tenant_id, tree_size, body) VALUES ('acme', 3, '{not json')")
    conn.commit()
    conn.close()
    assert "is not a checkpoint" in _one_line_error(runner.invoke(app, ["verify", "--db", url]), 1)


# -- tampering found in review (2026-11-29): each test runs the attacker's SQL; verify passed (exit 0) before ------
def seed_two_tenants(db: Path) -> str:
    async def go() -> None:
        store = SQLiteAuditStore(db)
        for tenant, n in (("acme", 5), ("beta", 3)):
            await AuditTrail(store, tenant_id=tenant, use_context_tenant=False).log_many(
                [{"event_type": AuditEventType.DATA_CREATED, "actor_id": f"u{i}", "success": i % 2 == 0}
                 for i in range(n)])
        await store.close()

    asyncio.run(go())
    url = f"sqlite:///{db}"
    for tenant in ("acme", "beta"):
        assert runner.invoke(app, ["checkpoint", "--tenant", tenant, "--db", url]).exit_code == 0
    return url


def tamper(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize("attack", [
    ["DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE tenant_id = 'beta'"],  # a tenant's whole log
    ["DROP TRIGGER audit_log_no_update",  # hidden: a BLOB tenant id no longer equals the text 'beta'
     "UPDATE audit_log SET tenant_id = CAST(tenant_id AS BLOB) WHERE tenant_id = 'beta'"],
])
def test_a_checkpointed_tenant_whose_records_are_gone_is_tampered(tmp_path: Path, attack: list[str]) -> None:
    db = tmp_path / "a.db"
    url = seed_two_tenants(db)
    tamper(db, *attack)
    res = runner.invoke(app, ["verify", "--db", url, "--json"])
    assert res.exit_code == 1, res.output
    (beta,) = [r for r in json.loads(res.output) if r["tenant_id"] == "beta"]
    assert not beta["ok"] and "truncated" in "; ".join(beta["problems"])
    assert [r["tenant_id"] for r in json.loads(res.output)] == ["acme", "beta"]  # no "b'beta'" tenant either


@pytest.mark.parametrize("sequence", ["5.5", "'zz'"])
def test_a_row_forged_with_a_sequence_number_that_is_not_an_integer_is_found_and_never_served(
    tmp_path: Path, sequence: str,
) -> None:
    db = tmp_path / "a.db"
    url = seed_two_tenants(db)
    forged = {"sequence_number": sequence, "record_id": "'forged-id'", "actor_id": "'mallory'",
              "action": "'forged action'", "checksum": "'deadbeef'"}
    tamper(db, f"INSERT INTO audit_log ({', '.join(COLUMNS)}) SELECT {', '.join(forged.get(c, c) for c in COLUMNS)} "
               "FROM audit_log WHERE tenant_id = 'acme' AND sequence_number = 5")
    res = runner.invoke(app, ["verify", "--db", url, "--json"])
    assert res.exit_code == 1, res.output
    (acme,) = [r for r in json.loads(res.output) if r["tenant_id"] == "acme"]
    assert "outside the chain" in "; ".join(acme["problems"])
    exported = runner.invoke(app, ["export", "--tenant", "acme", "--db", url])
    assert exported.exit_code == 0 and "mallory" not in exported.output  # never served as a record

    async def head_and_next() -> tuple[tuple[int, str], Any]:
        store = SQLiteAuditStore(db)
        try:
            head = await store.get_head("acme")
            rec = await AuditTrail(store, tenant_id="acme", use_context_tenant=False).log(
                AuditEventType.DATA_CREATED)
            return head, rec
        finally:
            await store.close()

    head, rec = asyncio.run(head_and_next())
    assert head[0] == 5 and head[1] != "deadbeef" and rec.previous_checksum == head[1]  # linked to the real record


def test_a_success_column_edited_to_another_false_value_is_tampered(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = seed_two_tenants(db)
    tamper(db, "DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET success = '' WHERE success = 0")
    res = runner.invoke(app, ["verify", "--db", url, "--json"])
    assert res.exit_code == 1 and "success" in res.output, res.output


def test_export_out_never_writes_through_a_symlink(tmp_path: Path) -> None:
    url = seed(tmp_path / "a.db")
    victim = tmp_path / "victim.txt"
    victim.write_text("VICTIM")
    link = tmp_path / "out.jsonl"
    link.symlink_to(victim)
    res = runner.invoke(app, ["export", "--tenant", "acme", "--db", url, "--out", str(link)])
    assert res.exit_code == 0, res.output
    assert victim.read_text() == "VICTIM"  # the link itself is replaced by the export, atomically
    assert not link.is_symlink() and len(link.read_text().splitlines()) == 12
