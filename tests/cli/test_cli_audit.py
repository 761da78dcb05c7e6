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
