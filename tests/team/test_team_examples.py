"""Every file in examples/ runs: the Python scripts as subprocesses, the YAML teams through the runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmteam.team import load_team

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_python_example_runs(script: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
    if script == "quickstart.py":
        assert "audit chain valid: True" in done.stdout and (tmp_path / ".llmteam" / "llmteam.db").exists()
    if script == "multi_tenant.py":
        assert "completed=6 refused=4" in done.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
async def test_yaml_example_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMTEAM_BASE_URL", raising=False)
    team = load_team(EXAMPLES / name)
    inputs = {"support_team.yaml": {"query": "I was charged twice"}, "router_team.yaml": {"query": "refund please"}}
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run(inputs[name])
        assert result.output
        assert await rt.verify_audit() == (True, [])


async def test_router_example_routes_by_rule_then_llm() -> None:
    team = load_team(EXAMPLES / "router_team.yaml")
    async with team.runtime("memory://", tenant="acme") as rt:
        refund = await rt.run({"query": "I want a refund"})
        delivery = await rt.run({"query": "where is my delivery"})
    assert [s.agent for s in refund.steps] == ["intake", "refunds"]
    assert [s.agent for s in delivery.steps] == ["intake", "shipping"]
