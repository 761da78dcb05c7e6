import shutil
from datetime import datetime, timedelta

import pytest

from llmteam.roles import ProcessEvent, ProcessMapRenderError, ProcessMiningEngine, render_dot, to_mermaid

T0 = datetime(2024, 1, 1)


@pytest.fixture
def engine() -> ProcessMiningEngine:
    e = ProcessMiningEngine()
    for c in range(2):
        for i, act in enumerate(['triage "x"', "answer|{y}"]):
            e.record_event(ProcessEvent(f"{c}{i}", T0 + timedelta(seconds=i), act, "r", f"c{c}"))
    return e


def test_dot_and_mermaid_text(engine: ProcessMiningEngine) -> None:
    dot = engine.process_map("dot")
    assert isinstance(dot, str) and dot.startswith('digraph "process"')
    assert 'label="triage \\"x\\" (2)"' in dot and 'label="2 | 1.0s"' in dot
    mer = to_mermaid(engine.directly_follows_graph())
    assert mer.startswith("flowchart LR") and 'a0["triage  x (2)"]' in mer and "-->|2 / 1.0s|" in mer
    with pytest.raises(ValueError, match="gif"):
        engine.process_map("gif")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_svg_and_png_rendering(engine: ProcessMiningEngine) -> None:
    svg = engine.process_map("svg")
    assert isinstance(svg, bytes) and b"<svg" in svg
    assert render_dot("digraph { a -> b }", "png").startswith(b"\x89PNG")
    with pytest.raises(ProcessMapRenderError, match="failed"):
        render_dot("digraph {", "svg")


def test_missing_dot_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ProcessMapRenderError, match="install graphviz"):
        render_dot("digraph {}", "svg")
    with pytest.raises(ValueError):
        render_dot("digraph {}", "pdf")
