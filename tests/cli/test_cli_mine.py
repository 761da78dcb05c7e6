import asyncio
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.cli import app
from llmteam.roles import ProcessEvent, import_xes, open_event_log

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/llmteam.db"

    async def fill() -> None:
        async with open_event_log(url) as log:
            for case in range(3):
                await log.append_many([
                    ProcessEvent(f"{case}a", T0, "triage", "bot", f"run{case}", "complete", 10),
                    ProcessEvent(f"{case}b", T0 + timedelta(seconds=2), "answer", "bot", f"run{case}", "start"),
                    ProcessEvent(f"{case}c", T0 + timedelta(seconds=3), "answer", "bot", f"run{case}", "complete", 900),
                ], tenant_id="acme" if case else "other")

    asyncio.run(fill())
    return url


def test_map_formats(db: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["mine", "map", "--format", "dot", "--db", db])
    assert res.exit_code == 0 and res.stdout.startswith("digraph")
    res = runner.invoke(app, ["mine", "map", "--format", "mermaid", "--db", db, "--tenant", "acme"])
    assert res.exit_code == 0 and "triage<br/>2x" in res.stdout
    if shutil.which("dot"):
        out = tmp_path / "map.svg"
        res = runner.invoke(app, ["mine", "map", "--format", "svg", "--out", str(out), "--db", db])
        assert res.exit_code == 0, res.output
        assert b"<svg" in out.read_bytes()
    res = runner.invoke(app, ["mine", "map", "--format", "png", "--db", db])
    assert res.exit_code == 2 and "--out" in res.output


def test_export_formats(db: str, tmp_path: Path) -> None:
    out = tmp_path / "log.xes"
    res = runner.invoke(app, ["mine", "export", "--format", "xes-standard", "--out", str(out), "--db", db])
    assert res.exit_code == 0, res.output
    assert len(import_xes(out)) == 9
    res = runner.invoke(app, ["mine", "export", "--format", "xes", "--db", db, "--tenant", "other"])
    assert res.exit_code == 0 and res.stdout.count("<event>") == 3 and "<log>" in res.stdout
    res = runner.invoke(app, ["mine", "export", "--format", "jsonl", "--db", db])
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 9 and rows[0]["activity"] == "triage"
    res = runner.invoke(app, ["mine", "map", "--format", "dot", "--input", str(out)])
    assert res.exit_code == 0 and "answer" in res.stdout


def test_metrics(db: str) -> None:
    res = runner.invoke(app, ["mine", "metrics", "--json", "--db", db])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["cases"] == 3 and data["events"] == 9
    assert data["bottlenecks"]["service"][0]["activity"] == "answer"
    assert data["bottlenecks"]["waiting"][0]["activity"] == "answer"
    assert data["variants"][0] == {"activities": ["triage", "answer"], "count": 3, "share": 1.0}
    res = runner.invoke(app, ["mine", "metrics", "--db", db])
    assert res.exit_code == 0 and "Bottlenecks" in res.stdout


def test_clear_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["mine", "metrics", "--db", f"sqlite:///{tmp_path}/missing.db"])
    assert res.exit_code == 1 and "no event log" in res.output
    res = runner.invoke(app, ["mine", "export", "--db", "ftp://x"])
    assert res.exit_code == 2 and "unknown scheme" in res.output
    bad = tmp_path / "bad.xes"
    bad.write_text("<log><trace>")
    res = runner.invoke(app, ["mine", "map", "--format", "dot", "--input", str(bad)])
    assert res.exit_code == 1 and "well-formed" in res.output


def test_bare_map_is_a_usage_error_with_a_hint(llmteam) -> None:
    done = llmteam("mine", "map")
    assert done.code == 2 and "--out" in done.err and "hint:" in done.err


def test_metrics_for_people_and_json_in_milliseconds(llmteam) -> None:
    assert llmteam("demo", "--json").code == 0
    text = llmteam("mine", "metrics")
    assert text.code == 0 and "average case duration" in text.out and " ms" in text.out
    assert "0:00:00" not in text.out and "avg_duration" not in text.out
    data = json.loads(llmteam("mine", "metrics", "--json").out)
    assert isinstance(data["metrics"]["avg_duration_ms"], float) and "avg_duration" not in data["metrics"]
    service = data["bottlenecks"]["service"][0]
    assert {"mean_service_ms", "mean_waiting_ms"} <= set(service)
    for value in (data["metrics"]["avg_duration_ms"], service["mean_waiting_ms"]):
        assert value == round(value, 3)


def test_map_of_one_team_of_a_tenant(llmteam, tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.yaml").write_text(
            f"team: {name}\nllm: {{provider: scripted, default: ok}}\n"
            f"agents:\n  - {{name: {name}_step, prompt: 'do {{query}}'}}\n")
        done = llmteam("run", f"{name}.yaml", "--tenant", "acme", "--input", '{"query": "x"}')
        assert done.code == 0, done.text
    both = llmteam("mine", "map", "-f", "dot", "--tenant", "acme").out
    assert "alpha_step" in both and "beta_step" in both
    alpha = llmteam("mine", "map", "-f", "mermaid", "--tenant", "acme", "--team", "alpha")
    assert alpha.code == 0 and "alpha_step" in alpha.out and "beta_step" not in alpha.out
    assert "title: Process map: alpha, 1 cases" in alpha.out
    assert llmteam("mine", "map", "-f", "dot", "--team", "alpha").code == 2


@pytest.mark.parametrize("args", [["export", "--format", "jsonl"], ["export", "--format", "xes"],
                                  ["map", "--format", "dot"], ["map", "--format", "mermaid"]])
def test_outputs_replace_a_planted_symlink_never_write_through_it(db: str, tmp_path: Path, args: list[str]) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out.file"
    out.symlink_to(victim)  # planted where the operator will write
    res = runner.invoke(app, ["mine", *args, "--out", str(out), "--db", db])
    assert res.exit_code == 0, res.output
    assert victim.read_text() == "precious\n" and not out.is_symlink() and out.stat().st_size > 0
    dangling = tmp_path / "dangling.file"
    dangling.symlink_to(tmp_path / "elsewhere.txt")
    assert runner.invoke(app, ["mine", *args, "--out", str(dangling), "--db", db]).exit_code == 0
    assert not (tmp_path / "elsewhere.txt").exists() and not dangling.is_symlink()
