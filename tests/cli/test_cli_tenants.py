"""``llmteam tenants create|list|show|update`` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite:///{tmp_path}/t.db"]


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_create_list_show_update(db: list[str]) -> None:
    code, out = invoke("tenants", "create", "acme", "--name", "Acme Corp", "--tier", "professional",
                       "--max-rpm", "50", "--enable", "persistence", "--json", *db)
    assert code == 0, out
    created = json.loads(out)
    assert created["tier"] == "professional" and created["effective_limits"]["max_requests_per_minute"] == 50
    assert "persistence" in created["effective_limits"]["features"]
    assert invoke("tenants", "create", "zeta", *db)[0] == 0
    code, out = invoke("tenants", "list", "--json", *db)
    assert code == 0 and [t["tenant_id"] for t in json.loads(out)] == ["acme", "zeta"]
    code, out = invoke("tenants", "list", *db)
    assert code == 0 and "acme" in out and "zeta" in out
    code, out = invoke("tenants", "update", "acme", "--tier", "enterprise", "--inactive", "--disable", "persistence",
                       "--json", *db)
    updated = json.loads(out)
    assert code == 0 and updated["tier"] == "enterprise" and updated["is_active"] is False
    assert "persistence" in updated["features_disabled"]
    code, out = invoke("tenants", "show", "acme", "--json", *db)
    shown = json.loads(out)
    assert code == 0 and shown["name"] == "Acme Corp" and shown["usage"]["runs"] == 0
    code, out = invoke("tenants", "show", "acme", *db)
    assert code == 0 and "Acme Corp" in out and "enterprise" in out


def test_show_reports_the_tools_the_tenants_runs_called(db: list[str]) -> None:
    import asyncio

    from llmteam.llm import ScriptedLLM, ToolCall
    from llmteam.team import Agent, Team
    from llmteam.tools import ToolPolicy, tool

    @tool
    def lookup(number: str) -> str:
        """Look up an invoice."""
        return "ok"

    def respond(messages: list[dict[str, object]]) -> object:
        return "done" if messages[-1]["role"] == "tool" else [ToolCall.of("lookup", {"number": "1"}),
                                                              ToolCall.of("lookup", {"bad": 1}), ToolCall.of("rm")]

    team = Team("t", llm=ScriptedLLM(respond=respond), agents=[Agent("a", prompt="x", tools=[lookup])])

    async def run() -> None:
        async with team.runtime(db[1], tenant="acme", tool_policy=ToolPolicy()) as rt:
            await rt.run({})

    asyncio.run(run())
    code, out = invoke("tenants", "show", "acme", "--json", *db)
    total = json.loads(out)["usage"]["total"]
    assert code == 0 and (total["tool_calls"], total["tool_denied"], total["tool_failed"]) == (1, 1, 1)
    code, out = invoke("tenants", "show", "acme", *db)
    assert code == 0 and "1 ran, 1 refused, 1 failed" in out, out


def test_changes_are_audited(db: list[str]) -> None:
    invoke("tenants", "create", "acme", *db)
    invoke("tenants", "update", "acme", "--max-agents", "3", *db)
    code, out = invoke("audit", "verify", "--tenant", "acme", "--json", *db)
    assert code == 0, out
    report = json.loads(out)[0]
    assert report["ok"] and report["records_checked"] == 2  # TENANT_CREATED, TENANT_UPDATED


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("tenants", "show", "ghost"), 1,
         "tenant 'ghost' does not exist; create it with `llmteam tenants create ghost`"),
        (("tenants", "update", "ghost", "--tier", "free"), 1, "does not exist"),
        (("tenants", "create", "x", "--tier", "platinum"), 2, "unknown tier 'platinum'"),
        (("tenants", "create", "x", "--max-rpm", "-1"), 2, "must be >= 0"),
    ],
)
def test_errors(db: list[str], args: tuple[str, ...], code: int, message: str) -> None:
    got, out = invoke(*args, *db)
    assert got == code, out
    assert message in " ".join(out.split())


def test_duplicate_create(db: list[str]) -> None:
    assert invoke("tenants", "create", "acme", *db)[0] == 0
    code, out = invoke("tenants", "create", "acme", *db)
    assert code == 1 and "already exists" in out


def _audit_records(llmteam, tenant: str) -> list[dict]:  # type: ignore[no-untyped-def]
    done = llmteam("audit", "export", "--tenant", tenant)
    assert done.code == 0, done.text
    return [json.loads(line) for line in done.out.splitlines()]


def test_changes_are_audited_as_the_os_user_or_actor_and_empty_updates_write_nothing(llmteam) -> None:
    import getpass

    assert llmteam("tenants", "create", "acme").code == 0
    assert llmteam("tenants", "update", "acme", "--tier", "starter", "--actor", "alice").code == 0
    same = llmteam("tenants", "update", "acme", "--tier", "starter")  # no change: no write, no record
    assert same.code == 0, same.text
    empty = llmteam("tenants", "update", "acme")
    assert empty.code == 2 and "nothing to update" in empty.err and "--tier" in empty.err
    records = _audit_records(llmteam, "acme")
    assert [(r["event_type"], r["actor_id"]) for r in records] == [
        ("config.tenant_created", getpass.getuser()), ("config.tenant_updated", "alice")]


def test_consistent_hints(llmteam) -> None:
    assert llmteam("tenants", "create", "acme").code == 0
    again = llmteam("tenants", "create", "acme")
    assert again.code == 1 and "llmteam tenants update acme" in again.err and "update_tenant()" not in again.err
    bogus = llmteam("tenants", "create", "zeta", "--enable", "persistance")
    assert bogus.code == 2 and "unknown feature" in bogus.err and "did you mean 'persistence'" in bogus.err
    negative = llmteam("tenants", "update", "acme", "--max-agents", "-1")
    assert negative.code == 2 and "--max-agents must be >= 0" in negative.err and "max_agents_per" not in negative.err
    blank = llmteam("tenants", "create", " ")
    assert blank.code == 2 and "Traceback" not in blank.text


def test_timestamps_shown_are_utc(llmteam) -> None:
    shown = json.loads(llmteam("tenants", "create", "acme", "--json").out)
    assert shown["created_at"].endswith("+00:00") and shown["updated_at"].endswith("+00:00")
