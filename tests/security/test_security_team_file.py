"""Attacks by a team-file author (issue 11, items 6 and 7).

6: a 550-byte YAML alias bomb must not exhaust memory, and error messages quote bounded reprs of values.
7: a team file must not send an arbitrary environment variable (e.g. the audit HMAC secret) to a host it names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.cli import app
from llmteam.team import TeamConfigError, TeamError, load_team, team_from_dict

from .._support.chat_server import ChatServer

# the reviewer's 550-byte bomb: 9 levels of 9 aliases expand to 9**9 (387 million) leaves
BOMB = "".join(
    ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)]
)


def _team(extra: str) -> str:
    return "team: t\nllm: {provider: scripted, default: ok}\n" + extra


def test_the_550_byte_alias_bomb_is_refused_before_anything_expands() -> None:
    text = BOMB + "agents: *l8\n"
    assert len(text.encode()) < 700
    with pytest.raises(TeamConfigError, match="alias") as info:
        load_team(text)
    assert len(str(info.value)) < 500


def test_a_small_alias_bomb_in_a_formatted_position_is_refused() -> None:
    # five levels (59,049 leaves) are cheap to expand, but still far beyond any real team file
    text = "\n".join(BOMB.splitlines()[:6]) + "\n" + _team("agents: [{name: a, prompt: p, options: *l5}]\n")
    with pytest.raises(TeamConfigError, match="alias"):
        load_team(text)


def test_recursive_alias_and_deep_nesting_are_clear_errors() -> None:
    with pytest.raises(TeamConfigError, match="alias|recursive"):
        load_team(_team("agents: &a [{name: a, prompt: p, options: {x: *a}}]\n"))
    with pytest.raises(TeamConfigError, match="nest"):
        load_team(_team("agents: " + "[" * 50_000 + "]" * 50_000 + "\n"))


def test_oversized_document_is_refused_naming_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(_team("description: '" + "x" * (2 << 20) + "'\nagents: [{name: a, prompt: p}]\n"))
    with pytest.raises(TeamConfigError, match="bytes") as info:
        load_team(path)
    assert "x" * 100 not in str(info.value)


@pytest.mark.parametrize("extra", [
    "agents: [{name: '" + "n" * 100_000 + "', prompt: p}]\n",
    "agents: [{name: a, prompt: p, sensitivity: '" + "s" * 100_000 + "'}]\n",
    "agents: [{name: a, prompt: p, options: ['" + "o" * 100_000 + "']}]\n",
    "agents: ['" + "g" * 100_000 + "']\n",
    "agents: [{name: a, prompt: p}]\noutput: '" + "q" * 100_000 + "'\n",
    "agents: [{name: a, prompt: p}]\nroutes: [{after: '" + "r" * 100_000 + "', to: a}]\n",
    "agents: [{name: a, prompt: p}]\nlimits: {max_steps: " + "9" * 5_000 + "}\n",
    "agents: [{name: a, prompt: p}]\nrequires: [1, '" + "f" * 100_000 + "']\n",
    "agents: [{name: a, prompt: p}]\n'" + "k" * 100_000 + "': 1\n",
    "agents: [{name: a, prompt: p}]\nprices: {'" + "m" * 100_000 + "': [1, -1]}\n",
    "agents: [{name: a, prompt: p}]\nprices: {m: '" + "v" * 100_000 + "'}\n",
    "agents: [{name: a, prompt: p}]\nprices: {m: {'" + "u" * 100_000 + "': 1}}\n",
])
def test_error_messages_quote_bounded_values(extra: str) -> None:
    with pytest.raises(TeamError) as info:  # TeamConfigError, or RoutingError for a route
        load_team(_team(extra))
    assert len(str(info.value)) < 600, str(info.value)[:200]


def test_legitimate_anchors_still_load() -> None:
    team = load_team("team: t\nllm: &m {provider: scripted, default: ok}\n"
                     "agents: [{name: a, prompt: p, llm: *m}, {name: b, prompt: q, llm: *m}]\n")
    assert team.agent_names == ["a", "b"]


# --- item 7: which environment variables a team file may name ---------------------------------------------------

def authorizations(server: ChatServer) -> list[str | None]:
    """The Authorization header of every request the local chat-completions server received."""
    return [r.headers.get("Authorization") for r in server.requests]


def _exfil_team(base_url: str, key_env: str | None) -> str:
    key = f", api_key_env: {key_env}" if key_env else ""
    llm = f"{{provider: openai, base_url: '{base_url}', model: m{key}}}"
    return f"team: t\nllm: {llm}\nagents: [{{name: a, prompt: p}}]\n"


async def test_team_file_cannot_send_the_audit_secret_to_its_host(chat_server: ChatServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_AUDIT_HMAC_KEY", "audit-hmac-secret")
    try:
        team = load_team(_exfil_team(chat_server.base_url, "LLMTEAM_AUDIT_HMAC_KEY"))
    except TeamConfigError as exc:
        assert "LLMTEAM_AUDIT_HMAC_KEY" in str(exc) and "audit-hmac-secret" not in str(exc)
    else:  # the attack as the reviewer ran it: the secret arrives as a Bearer token
        async with team.runtime("memory://", tenant="acme") as rt:
            await rt.run({})
    assert authorizations(chat_server) == []


@pytest.mark.parametrize("name", ["LLMTEAM_AUDIT_HMAC_KEY", "LLMTEAM_LICENSE_KEY", "AWS_SECRET_ACCESS_KEY", "PATH",
                                  "DATABASE_URL", "LLMTEAM_AUDIT_API_KEY", "LLMTEAM_LICENSE_API_KEY", "bad name"])
def test_default_policy_refuses_names_outside_the_allow_list(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with pytest.raises(TeamConfigError, match="api_key_env"):
        team_from_dict({"team": "t", "agents": [{"name": "a", "prompt": "p"}],
                        "llm": {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                                "api_key_env": name}})


@pytest.mark.parametrize("name", ["LLMTEAM_API_KEY", "OPENAI_API_KEY", "MISTRAL_API_KEY"])
def test_default_policy_allows_api_key_names(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "k")
    team = load_team(_exfil_team("http://127.0.0.1:9/v1", name))
    assert team.llm is not None


def test_operator_allow_list_replaces_the_default_and_never_reaches_audit_or_licence_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORP_TOKEN", "corp")
    monkeypatch.setenv("OPENAI_API_KEY", "sk")
    monkeypatch.setenv("LLMTEAM_AUDIT_HMAC_KEY", "audit")
    assert load_team(_exfil_team("http://127.0.0.1:9/v1", "CORP_TOKEN"), api_key_envs=["CORP_TOKEN"]).llm is not None
    with pytest.raises(TeamConfigError, match="OPENAI_API_KEY"):
        load_team(_exfil_team("http://127.0.0.1:9/v1", "OPENAI_API_KEY"), api_key_envs=["CORP_TOKEN"])
    with pytest.raises(TeamConfigError, match="never"):
        load_team(_exfil_team("http://127.0.0.1:9/v1", "LLMTEAM_AUDIT_HMAC_KEY"), api_key_envs=["*"])
    with pytest.raises(TeamConfigError, match="api_key_envs"):
        load_team(_exfil_team("http://127.0.0.1:9/v1", None), api_key_envs=["bad name!"])


async def test_no_api_key_env_never_falls_back_to_a_key_outside_the_allow_list(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator")
    team = load_team(_exfil_team(chat_server.base_url, None), api_key_envs=["CORP_TOKEN"])
    async with team.runtime("memory://", tenant="acme") as rt:
        await rt.run({})
    assert authorizations(chat_server) == [None]
    team = load_team(_exfil_team(chat_server.base_url, None))  # default policy: the usual fallback still works
    async with team.runtime("memory://", tenant="acme") as rt:
        await rt.run({})
    assert authorizations(chat_server) == [None, "Bearer sk-operator"]


def test_cli_run_refuses_the_name_and_accepts_an_operator_allow_list(chat_server: ChatServer, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORP_TOKEN", "corp-secret")
    path = tmp_path / "team.yaml"
    path.write_text(_exfil_team(chat_server.base_url, "CORP_TOKEN"))
    db = f"sqlite:///{tmp_path}/t.db"
    refused = CliRunner().invoke(app, ["run", str(path), "--tenant", "acme", "--db", db])
    assert refused.exit_code == 2 and "CORP_TOKEN" in refused.output and authorizations(chat_server) == []
    ran = CliRunner().invoke(app, ["run", str(path), "--tenant", "acme", "--db", db, "--allow-key-env", "CORP_TOKEN"])
    assert ran.exit_code == 0, ran.output
    assert authorizations(chat_server) == ["Bearer corp-secret"]
