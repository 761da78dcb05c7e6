"""The demo team and run_demo(): the report holds a verified signed checkpoint, metrics and written files."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmteam.llm import OpenAICompatible, ScriptedLLM
from llmteam.team._demo import DEMO_QUERY, demo_team, run_demo, scripted_support_llm, write_process_map


@pytest.mark.parametrize(
    ("query", "category"),
    [(DEMO_QUERY, "billing"), ("I cannot log in to my account", "account"), ("The app crashes on start", "technical")],
)
async def test_scripted_model_classifies(query: str, category: str) -> None:
    llm = scripted_support_llm()
    team = demo_team(llm)
    assert await llm.generate(team.agent("classify").prompt.format(query=query)) == category


def test_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLMTEAM_MODEL", "m")
    assert isinstance(demo_team().llm, OpenAICompatible)
    monkeypatch.delenv("LLMTEAM_BASE_URL")
    assert isinstance(demo_team().llm, ScriptedLLM)


async def test_run_demo_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    report = await run_demo(url, out_dir=tmp_path / "out")
    assert "refunded" in report.result.output and report.result.tenant_id == "demo"
    assert [s.agent for s in report.result.steps] == ["classify", "retrieve_policy", "draft", "review"]
    # 7 step/run records plus the draft agent's one governed tool call
    assert report.verification.ok and report.checkpoint["tree_size"] == 8
    (call,) = report.result.steps[2].tool_calls
    assert (call.tool, call.decision, call.ok) == ("lookup_invoice", "allow", True)
    assert "Invoice INV-1042 (49.00 EUR) was charged 2 times" in report.result.output
    assert report.result.usage.tool_calls == 1 and report.result.usage_by_agent["draft"].tool_calls == 1
    assert "tool:lookup_invoice" in report.map_path.read_text()
    assert report.cases == 1 and report.metrics.completion_rate == 1.0
    assert report.bottlenecks[0].activity == "draft"  # the longest answer is the slowest step
    assert report.xes_path.read_text().count("<trace>") == 1
    assert report.map_path.exists() and report.seconds < 5
    again = await run_demo(url, out_dir=tmp_path / "out", query="The app crashes")
    assert again.cases == 2 and again.checkpoint["tree_size"] == 15 and again.verification.ok


def test_process_map_without_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmteam.team._demo.shutil.which", lambda name: None)
    path, fmt = write_process_map("digraph g { a -> b }", tmp_path / "map")
    assert fmt == "dot" and path.suffix == ".dot" and "a -> b" in path.read_text()
