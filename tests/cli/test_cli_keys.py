"""``llmteam keys create|list|revoke`` through the real CLI app, against the same store the server reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.audit import AuditQuery
from llmteam.audit.stores import open_audit_store
from llmteam.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite:///{tmp_path}/k.db"]


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_create_list_revoke_and_audit(db: list[str]) -> None:
    code, out = invoke("keys", "create", "--tenant", "acme", "--scope", "runs:write,runs:read,audit:read",
                       "--expires", "90d", "--json", *db)
    assert code == 0, out
    created = json.loads(out)
    assert created["token"].startswith(f"lt_{created['key_id']}_") and created["state"] == "active"
    assert created["scopes"] == ["audit:read", "runs:read", "runs:write"] and created["expires_at"]
    code, out = invoke("keys", "list", "--json", *db)
    listed = json.loads(out)
    assert [k["key_id"] for k in listed] == [created["key_id"]] and "token" not in listed[0]
    code, out = invoke("keys", "revoke", created["key_id"], *db)
    assert code == 0, out
    assert json.loads(invoke("keys", "list", "--json", *db)[1])[0]["state"] == "revoked"

    async def actors() -> list[tuple[str, str]]:
        store = open_audit_store(db[1])
        try:
            records = await store.query(AuditQuery(tenant_id="acme", order_by="sequence_number", order_desc=False))
            return [(r.action, r.actor_id) for r in records]
        finally:
            await store.close()

    assert [a for a, actor in asyncio.run(actors()) if actor.startswith("cli:")] == ["create_api_key",
                                                                                     "revoke_api_key"]


def test_plain_output_prints_only_the_token_on_stdout(db: list[str]) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--tenant", "acme", "--scope", "runs:read", *db])
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("lt_") and len(result.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--tenant", "acme", "--scope", "root"], "unknown scope"),
    (["--tenant", "acme", "--scope", "runs:read", "--expires", "1y"], "not a duration"),
    (["--tenant", "../x", "--scope", "runs:read"], "tenant id"),
    (["--tenant", "acme"], "at least one scope"),
])
def test_bad_arguments_exit_2_with_the_reason(db: list[str], args: list[str], message: str) -> None:
    code, out = invoke("keys", "create", *args, *db)
    assert code == 2 and message in out


def test_revoke_unknown_key(db: list[str]) -> None:
    code, out = invoke("keys", "revoke", "0123456789ab", *db)
    assert code == 2 and "no API key" in out
