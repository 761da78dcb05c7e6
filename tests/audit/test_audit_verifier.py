"""The standalone verifier imports nothing from llmteam and works as a script on JSON files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import llmteam.audit.verifier as verifier_module
from llmteam.audit import AuditEventType, AuditLedger, AuditTrail, SigningKey
from llmteam.audit.stores import MemoryAuditStore

SRC = Path(verifier_module.__file__)


def test_imports_only_stdlib_and_cryptography(tmp_path: Path) -> None:
    copy = tmp_path / "verifier.py"
    copy.write_text(SRC.read_text())
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import verifier; "
        "bad = [m for m in sys.modules if m.startswith('llmteam')]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=tmp_path)
    imports = [line for line in SRC.read_text().splitlines() if line.startswith(("import", "from"))]
    assert not any("llmteam" in line for line in imports)


async def test_script_accepts_good_and_rejects_tampered(tmp_path: Path) -> None:
    store = MemoryAuditStore()
    await AuditTrail(store, tenant_id="t", use_context_tenant=False).log_many(
        [{"event_type": AuditEventType.DATA_CREATED}] * 9)
    key = SigningKey.generate()
    ledger = AuditLedger(store, key)
    old = await ledger.checkpoint("t")
    await AuditTrail(store, tenant_id="t", use_context_tenant=False).log(AuditEventType.DATA_UPDATED)
    bundle = await ledger.prove_inclusion("t", 4)
    bundle["consistency"] = await ledger.prove_consistency("t", 9, 10)
    (tmp_path / "k.pub").write_text(key.public_key_b64)
    (tmp_path / "p.json").write_text(json.dumps(bundle))
    (tmp_path / "old.json").write_text(json.dumps(old))
    copy = tmp_path / "verifier.py"
    copy.write_text(SRC.read_text())
    run = [sys.executable, str(copy), "--public-key", str(tmp_path / "k.pub"), str(tmp_path / "p.json")]
    assert subprocess.run([*run, str(tmp_path / "old.json")], capture_output=True).returncode == 0
    bundle["record"]["actor_id"] = "mallory"
    (tmp_path / "p.json").write_text(json.dumps(bundle))
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode == 1 and "modified" in bad.stderr
