"""``llmteam audit``: verify, export, prove (accepted by the standalone verifier), checkpoint."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from llmteam.audit import AuditEventType, AuditTrail
from llmteam.audit.stores import SQLiteAuditStore
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
