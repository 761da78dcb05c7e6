"""Telemetry is optional: nothing imports OpenTelemetry unless asked, and the default follows the application."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmteam.observability import NO_TELEMETRY, NoTelemetry, resolve_telemetry


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_the_team_runtime_does_not_import_opentelemetry() -> None:
    out = _run("import sys, llmteam.team, llmteam.observability; "
               "print(any(m.split('.')[0] == 'opentelemetry' for m in sys.modules))")
    assert out == "False"


def test_a_runtime_without_opentelemetry_imported_stays_untraced() -> None:
    code = ("import sys; from llmteam.team import Team, Agent; from llmteam.llm import ScriptedLLM; "
            "rt = Team('t', [Agent('a', prompt='hi')], llm=ScriptedLLM(default='x')).runtime('memory://'); "
            "print(type(rt.telemetry).__name__, 'opentelemetry' in sys.modules)")
    assert _run(code) == "NoTelemetry False"


def test_a_runtime_follows_an_application_that_configured_opentelemetry() -> None:
    pytest.importorskip("opentelemetry")
    code = ("import opentelemetry.trace; from llmteam.team import Team, Agent; from llmteam.llm import ScriptedLLM; "
            "rt = Team('t', [Agent('a', prompt='hi')], llm=ScriptedLLM(default='x')).runtime('memory://'); "
            "print(type(rt.telemetry).__name__)")
    assert _run(code) == "Telemetry"


def test_resolve_telemetry() -> None:
    assert resolve_telemetry(False) is NO_TELEMETRY
    custom = NoTelemetry()
    assert resolve_telemetry(custom) is custom
    with pytest.raises(TypeError, match="telemetry='yes' must be a Telemetry"):
        resolve_telemetry("yes")  # type: ignore[arg-type]


def test_the_noop_hooks_do_nothing() -> None:
    marker = object()
    assert NO_TELEMETRY.wrap_agent(marker) is marker
    with NO_TELEMETRY.run("t", "acme", "r"):
        pass
    with NO_TELEMETRY.tool("x", "id", {"a": 1}) as span:
        span.set_result(1)
