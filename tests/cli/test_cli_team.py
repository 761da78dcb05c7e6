"""``llmteam demo`` and ``llmteam run`` through the real CLI app (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.cli import app

from .._support.chat_server import text_server

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEAM = """team: t
llm: {provider: scripted, rules: [{match: hello, answer: hi there}], default: fine}
agents:
  - {name: greeter, prompt: "hello {name}"}
  - {name: closer, prompt: "close after {greeter}"}
"""


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMTEAM_BASE_URL", raising=False)


def test_demo_prints_everything_and_writes_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in ("Answer from team 'support_triage'", "refunded", "Usage and cost per agent", "classify",
                     "retrieve_p", "total", "Audit checkpoint", "verified", "Process metrics", "Bottlenecks",
                     "XES event log written to", "Process map", "Tool calls", "lookup_invoice", "INV-1042"):
        assert expected in out, expected
    assert (tmp_path / ".llmteam" / "llmteam.db").exists()
    assert (tmp_path / ".llmteam" / "support_triage.xes").read_text().startswith("<?xml")
    maps = list((tmp_path / ".llmteam").glob("support_triage-process-map.*"))
    assert len(maps) == 1 and maps[0].suffix in (".svg", ".dot")


def test_demo_json_and_repeat_runs_accumulate(tmp_path: Path) -> None:
    first = runner.invoke(app, ["demo", "--json"])
    second = runner.invoke(app, ["demo", "--json", "--query", "I forgot my password"])
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    a, b = json.loads(first.output), json.loads(second.output)
    assert "refunded" in a["answer"] and "reset link" in b["answer"]
    assert a["audit"]["verified"] and b["audit"]["verified"]
    assert b["audit"]["checkpoint"]["tree_size"] > a["audit"]["checkpoint"]["tree_size"]
    # four agents, and the drafter asks the model twice: once for the invoice lookup, once for the reply
    assert b["process"]["cases"] == 2 and b["run"]["usage"]["requests"] == 5 and b["run"]["usage"]["tool_calls"] == 1
    assert {x["activity"] for x in b["process"]["bottlenecks"]} <= {"classify", "retrieve_policy", "draft", "review",
                                                                    "tool:lookup_invoice"}
    assert Path(b["files"]["xes"]).exists()


def test_run_yaml_team(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    result = runner.invoke(app, ["run", "team.yaml", "--tenant", "acme", "--input", '{"name": "Ann"}', "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["output"] == "fine" and data["outputs"]["greeter"] == "hi there" and data["tenant_id"] == "acme"
    assert data["audit_head"]["sequence_number"] == 5  # created, started, 2 agents, completed
    (tmp_path / "in.json").write_text('{"name": "Bob"}')
    pretty = runner.invoke(app, ["run", "team.yaml", "--tenant", "acme", "--input", "@in.json"])
    assert pretty.exit_code == 0 and "Audit chain head: sequence 9" in pretty.output


def test_run_stream_prints_tokens_and_tool_calls_live(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    result = runner.invoke(app, ["run", "team.yaml", "--tenant", "acme", "--input", '{"name": "Ann"}', "--stream"])
    assert result.exit_code == 0, result.output
    assert "hi there" in result.output and "Answer from team 't'" in result.output
    lines = runner.invoke(app, ["run", "team.yaml", "--tenant", "acme", "--input", '{"name": "Ann"}', "--stream",
                                "--json"])
    assert lines.exit_code == 0, lines.output
    events = [json.loads(line) for line in lines.output.splitlines() if line.startswith('{"event"')]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "step_started" and kinds.count("step_finished") == 2
    assert "".join(e["text"] for e in events if e["event"] == "token").startswith("hi there")


def test_run_example_team() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "support_team.yaml"), "--tenant", "acme",
                                 "--input", '{"query": "my login fails"}', "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [s["agent"] for s in data["steps"]] == ["classify", "retrieve_policy", "draft", "review"]
    assert data["outputs"]["classify"] == "account"


@pytest.mark.parametrize(
    ("team_text", "args", "code", "message"),
    [
        (TEAM.replace("prompt: \"hello", "promt: \"hello"), [], 2, "unknown field 'promt'"),
        (TEAM, ["--input", '{"nom": "x"}'], 2, "prompt variable {name}"),
        (TEAM, ["--input", "{bad json"], 2, "--input is not valid JSON"),
        (TEAM, ["--input", "[1]"], 2, "must be a JSON object"),
        (TEAM.replace("{name: closer, prompt: \"close after {greeter}\"}",
                      "{name: closer, prompt: \"close after {greeter}\"}\nroutes: [{after: greeter, to: ghost}]"),
         [], 2, "route to 'ghost' names no agent"),
        (TEAM.replace("llm: {provider: scripted, rules: [{match: hello, answer: hi there}], default: fine}",
                      "llm: {provider: openai, base_url: 'http://127.0.0.1:9/v1', model: m, max_retries: 0}"),
         [], 1, "cannot reach http://127.0.0.1:9/v1"),
        (TEAM, ["--no-create-tenant"], 1, "tenant 'acme' does not exist"),
        (TEAM, ["--db", "ftp://nowhere"], 2, "unknown scheme 'ftp'"),
    ],
)
def test_run_bad_input(tmp_path: Path, team_text: str, args: list[str], code: int, message: str) -> None:
    (tmp_path / "team.yaml").write_text(team_text)
    argv = ["run", "team.yaml", "--tenant", "acme"]
    if "--input" not in args:
        argv += ["--input", '{"name": "Ann"}']
    result = runner.invoke(app, argv + args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split()), result.output


def test_run_tenant_over_limit_and_missing_feature(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    assert runner.invoke(app, ["tenants", "create", "small", "--max-concurrent", "0"]).exit_code == 0
    result = runner.invoke(app, ["run", "team.yaml", "--tenant", "small", "--input", '{"name": "x"}'])
    assert result.exit_code == 1 and "concurrent_pipelines" in result.output
    assert runner.invoke(app, ["tenants", "update", "small", "--max-concurrent", "5",
                               "--disable", "basic_agents"]).exit_code == 0
    result = runner.invoke(app, ["run", "team.yaml", "--tenant", "small", "--input", '{"name": "x"}'])
    assert result.exit_code == 1 and "basic_agents" in result.output
    verify = runner.invoke(app, ["audit", "verify", "--tenant", "small", "--json"])
    assert verify.exit_code == 0, verify.output
    # created, updated (CLI), refused twice: every record in the tenant's intact chain
    report = json.loads(verify.output)[0]
    assert report["ok"] and report["records_checked"] == 4


def test_demo_against_a_real_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """With LLMTEAM_BASE_URL set the demo talks to that OpenAI-compatible server (here a local stub)."""

    def answer(model: str, prompt: str) -> str:
        return "billing" if prompt.startswith("Classify") else "APPROVED" if prompt.startswith("Review") else "ok"

    with text_server(answer, lambda model: model, tokens=(10, 2)) as (base_url, seen):
        monkeypatch.setenv("LLMTEAM_BASE_URL", base_url)
        monkeypatch.setenv("LLMTEAM_MODEL", "stub-model")
        result = runner.invoke(app, ["demo", "--json"])
    prompts = [body["messages"][-1]["content"] for body in seen]
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == "stub-model" and data["answer"] == "ok" and len(prompts) == 4
    assert data["run"]["usage"] == {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48,
                                    "requests": 4, "cost": pytest.approx(0.032), "tool_calls": 0, "tool_ms": 0.0,
                                    "tool_denied": 0, "tool_failed": 0,
                                    "unpriced_requests": 0}


def test_demo_tells_what_to_do_next_and_names_its_signing_key(llmteam, tmp_path: Path) -> None:
    done = llmteam("demo")
    assert done.code == 0, done.text
    out = done.out
    assert "What next" in out and "llmteam audit verify --tenant demo" in out and "llmteam mine metrics" in out
    assert ".llmteam/llmteam.db.audit-signing.key" in out and "created now" in out
    assert "illustrative" in out and "USD" in out and "per 1,000" in out
    again = llmteam("demo", "--json")
    data = json.loads(again.out)
    assert data["audit"]["signing_key_created"] is False and data["next"][0].startswith("llmteam audit verify")
    for command in data["next"]:  # the suggested commands work on what the demo wrote
        follow = llmteam(*command.split()[1:])
        assert follow.code == 0, (command, follow.text)


def test_usage_table_and_answer_fit_80_columns_without_cutting_names(llmteam, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "team: t\nllm: {provider: scripted, model: a-rather-long-model-name-v2, default: ok}\n"
        "agents:\n  - {name: retrieve_the_policy, prompt: 'do {query}'}\n")
    done = llmteam("run", "t.yaml", "--tenant", "acme", "--input", '{"query": "x"}')
    assert done.code == 0, done.text
    lines = done.out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("retrieve_the_policy" in line and "a-rather-long-model-name-v2" in line for line in lines)
    assert any(line.startswith("run ") and "1 steps" in line and " ms" in line for line in lines)
    assert "unpriced" in done.out  # this team has no prices: said so, never a silent 0
