"""Teams from a directory, hot-reloaded (added, changed, removed, broken files), and posted by admin keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import AuditQuery
from llmteam.server._teams import TeamDirectory
from llmteam.team import TeamConfigError
from tests.server.conftest import TEAM_YAML, bearer

OTHER_YAML = TEAM_YAML.replace("team: support", "team: sales").replace("We have corrected", "Sales corrected")


def _touch_later(path: Path, text: str) -> None:
    """Rewrite ``path`` with a later mtime (a second write in the same clock tick must still be seen)."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_scan_adds_changes_and_removes_teams(tmp_path: Path) -> None:
    (tmp_path / "support.yaml").write_text(TEAM_YAML)
    d = TeamDirectory(tmp_path)
    assert d.scan() and list(d.teams) == ["support"]
    first = d.teams["support"]
    assert not d.scan()  # nothing changed: the same Team object stays
    assert d.teams["support"] is first
    (tmp_path / "sales.yml").write_text(OTHER_YAML)
    assert d.scan() and sorted(d.teams) == ["sales", "support"]
    _touch_later(tmp_path / "support.yaml", TEAM_YAML.replace("billing", "shipping"))
    assert d.scan() and d.teams["support"] is not first
    (tmp_path / "sales.yml").unlink()
    assert d.scan() and list(d.teams) == ["support"]


def test_a_broken_file_keeps_its_last_good_team_and_is_reported(tmp_path: Path) -> None:
    (tmp_path / "support.yaml").write_text(TEAM_YAML)
    d = TeamDirectory(tmp_path)
    d.scan()
    good = d.teams["support"]
    _touch_later(tmp_path / "support.yaml", "team: support\nagents: [")
    assert not d.scan()
    assert d.teams["support"] is good
    assert "not valid YAML" in d.problems["support.yaml"] and "last good version" in d.problems["support.yaml"]
    (tmp_path / "new.yaml").write_text("team: new\nagents: []\n")  # a new broken file: reported, no team
    d.scan()
    assert "agents" in d.problems["new.yaml"] and "new" not in d.teams
    _touch_later(tmp_path / "support.yaml", TEAM_YAML)  # fixed: loaded again, the problem is gone
    assert d.scan() and "support.yaml" not in d.problems


def test_strict_scan_refuses_broken_and_duplicate_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(TEAM_YAML)
    (tmp_path / "b.yaml").write_text(TEAM_YAML)
    with pytest.raises(TeamConfigError, match="two team files"):
        TeamDirectory(tmp_path).scan(strict=True)
    lenient = TeamDirectory(tmp_path)
    lenient.scan()  # after start a duplicate is reported, the first file keeps the name
    assert list(lenient.teams) == ["support"] and "defines team 'support'" in lenient.problems["b.yaml"]


def test_write_validates_names_and_refuses_dangerous_fields(tmp_path: Path) -> None:
    d = TeamDirectory(tmp_path)
    team, replaced = d.write(OTHER_YAML)
    assert (team.name, replaced) == ("sales", False) and (tmp_path / "sales.yaml").read_text() == OTHER_YAML
    assert d.write(OTHER_YAML.replace("Sales corrected", "Sales fixed"))[1] is True
    for bad, message in [
        (TEAM_YAML.replace("team: support", "team: ../etc/passwd"), "not valid"),
        (TEAM_YAML.replace("team: support", "team: a/b"), "not valid"),
        (TEAM_YAML.replace("team: support", "team: 'x\\ny'"), "not valid"),
        (TEAM_YAML.replace("provider: scripted", "provider: openai\n  base_url: http://evil.example/v1"), "base_url"),
        (TEAM_YAML.replace("provider: scripted", "provider: scripted\n  api_key_env: OPENAI_API_KEY"), "api_key_env"),
        (TEAM_YAML + "mcp_servers:\n  - {name: sh, command: sh, args: ['-c', 'id']}\n", "mcp_servers"),
        ("team: ok\nagents: 3\n", "agents"),
        ("- just a list\n", "not valid"),
    ]:
        with pytest.raises(TeamConfigError, match=message):
            d.write(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sales.yaml"]  # nothing else was written
    (tmp_path / "x.yaml").write_text(TEAM_YAML)  # x.yaml defines 'support': posting team 'x' may not clobber it
    d.scan()
    with pytest.raises(TeamConfigError, match="does not define team 'x'"):
        d.write(TEAM_YAML.replace("team: support", "team: x"))
    assert (tmp_path / "x.yaml").read_text() == TEAM_YAML


def test_a_posted_team_may_not_import_python_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # review, 2026-11-29: tools: ["module:function"] imported the module (its code ran) before the 422, and
    # tools: ["typer.main:launch", "click._compat:open_stream"] was accepted: a program launcher and a file opener
    # as tools of a team an HTTP client wrote
    code = tmp_path / "code"
    code.mkdir()
    ran = tmp_path / "ran"
    (code / "evil_tools.py").write_text(f"open({str(ran)!r}, 'w').close()\ndef grab(path: str) -> str:\n"
                                        "    return path\n")
    monkeypatch.syspath_prepend(str(code))
    root = tmp_path / "teams"
    root.mkdir()
    d = TeamDirectory(root)
    for refs in ('["evil_tools:grab"]', '["typer.main:launch", "click._compat:open_stream"]'):
        posted = TEAM_YAML.replace('prompt: "Classify: {query}"}', f'prompt: "Classify: {{query}}", tools: {refs}}}')
        with pytest.raises(TeamConfigError, match="'tools' is not allowed in a team posted over HTTP"):
            d.write(posted)
    assert not ran.exists() and list(root.iterdir()) == []


def test_write_never_writes_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    root = tmp_path / "teams"
    root.mkdir()
    (root / "sales.yaml").symlink_to(outside)
    d = TeamDirectory(root)
    d.scan()  # the symlink is skipped, not followed
    assert d.teams == {}
    with pytest.raises(TeamConfigError, match="does not define team 'sales'"):
        d.write(OTHER_YAML)
    (root / "sales.yaml").unlink()
    (root / "sales.yaml").symlink_to(tmp_path / "dangling")  # a dangling link would be created by a naive open()
    with pytest.raises(TeamConfigError, match="does not define team 'sales'"):
        d.write(OTHER_YAML)
    assert outside.read_text() == "keep me" and not (tmp_path / "dangling").exists()


async def test_post_team_admin_only_audited_and_served_at_once(client: Any, make_key: Any, state: Any,
                                                                tmp_path: Path) -> None:
    admin = await make_key(admin=True)
    user = await make_key()
    r = await client.post("/v1/teams", json={"yaml": OTHER_YAML}, headers=bearer(user))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = await client.post("/v1/teams", json={"yaml": OTHER_YAML}, headers=bearer(admin))
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "sales", "agents": ["triage", "answer"], "description": "", "replaced": False}
    run = await client.post("/v1/runs", json={"team": "sales", "input": {"query": "q"}}, headers=bearer(user))
    assert run.status_code == 201 and run.json()["output"] == "Sales corrected your invoice."
    r = await client.post("/v1/teams", json={"yaml": OTHER_YAML.replace("Sales corrected", "Sales fixed")},
                          headers=bearer(admin))
    assert r.status_code == 200 and r.json()["replaced"] is True
    run = await client.post("/v1/runs", json={"team": "sales", "input": {"query": "q"}}, headers=bearer(user))
    assert run.json()["output"] == "Sales fixed your invoice."
    records = await state.audit_store.query(AuditQuery(tenant_id="acme", limit=100))
    changes = [x for x in records if x.event_type.value == "config.changed" and x.resource_type == "team"]
    assert {x.action for x in changes} == {"add_team", "replace_team"}
    assert all(x.actor_id.startswith("key:") for x in changes)
    r = await client.post("/v1/teams", json={"yaml": TEAM_YAML.replace("team: support", "team: ../x")},
                          headers=bearer(admin))
    assert r.status_code == 422 and "not valid" in r.json()["detail"]
    assert not (tmp_path / "x.yaml").exists()


async def test_changed_and_broken_files_take_effect_without_restart(client: Any, make_key: Any, state: Any,
                                                                    teams_dir: Path) -> None:
    user, admin = await make_key(), await make_key(admin=True)
    _touch_later(teams_dir / "support.yaml", TEAM_YAML.replace("We have corrected", "Reloaded:"))
    await state.reload_teams()
    run = await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=bearer(user))
    assert run.json()["output"] == "Reloaded: your invoice."
    _touch_later(teams_dir / "support.yaml", "team: support\nagents: {")  # broken: the last good one serves
    await state.reload_teams()
    run = await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=bearer(user))
    assert run.status_code == 201 and run.json()["output"] == "Reloaded: your invoice."
    listing = (await client.get("/v1/teams", headers=bearer(admin))).json()
    assert listing["problems"][0]["file"] == "support.yaml" and "YAML" in listing["problems"][0]["problem"]
    assert "problems" not in (await client.get("/v1/teams", headers=bearer(user))).json()  # operators' business
    (teams_dir / "support.yaml").unlink()
    await state.reload_teams()
    run = await client.post("/v1/runs", json={"team": "support", "input": {"query": "q"}}, headers=bearer(user))
    assert run.status_code == 404


async def test_a_reloaded_teams_old_runtime_closes_after_its_runs(state: Any, teams_dir: Path) -> None:
    old = await state.lease("support")
    _touch_later(teams_dir / "support.yaml", TEAM_YAML.replace("billing", "other"))
    await state.reload_teams()
    assert old in state._retired  # leased: kept open for the run using it
    new = await state.runtime("support")
    assert new is not old
    state.release(old)
    assert old not in state._retired
    await state.close()
    assert old._closed
