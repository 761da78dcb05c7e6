import shutil
from datetime import datetime, timedelta

import pytest

from llmteam.roles import ProcessEvent, ProcessMapRenderError, ProcessMiningEngine, render_dot, to_mermaid
from llmteam.roles._process_map import SLOW_FILL

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
    assert 'label="triage \\"x\\"\\n2x"' in dot and 'label="2x · 1.0 s"' in dot
    mer = to_mermaid(engine.directly_follows_graph())
    assert "flowchart LR" in mer and 'a0["triage  x<br/>2x"]' in mer and "-->|2x · 1.0 s|" in mer
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


def timed_engine() -> ProcessMiningEngine:
    e = ProcessMiningEngine()
    for c in range(3):
        t = T0 + timedelta(minutes=c)
        for i, (act, ms) in enumerate([("classify", 5), ("retrieve", 40), ("draft", 300), ("review", 20),
                                        ("send", 10), ("close", 2)]):
            e.record_event(ProcessEvent(f"{c}-{i}", t + timedelta(milliseconds=400 * i), act, "bot", f"case{c}",
                                        "complete", ms))
    return e


def _labels(text: str, pattern: str) -> list[str]:
    import re

    return re.findall(pattern, text)


def test_title_legend_highlight_and_identical_labels_in_dot_and_mermaid() -> None:
    e = timed_engine()
    dot = str(e.process_map("dot", title="support"))
    mer = str(e.process_map("mermaid", title="support"))
    title = "Process map: support, 3 cases"
    assert 'bgcolor="white"' in dot and title in dot and title in mer
    assert "box: activity" in dot and "box: activity" in mer and "slowest activities - draft, retrieve" in dot
    # the slowest activities (a third of them) are highlighted in both formats
    assert dot.count(f'fillcolor="{SLOW_FILL}"') == 2
    assert "class a2,a1 slow" in mer
    # every node and edge label carries the same content: name, count, mean service time / count, mean time
    dot_nodes = [label.replace("\\n", " | ") for label in _labels(dot, r'(?m)^  a\d+ \[label="([^"]+)"')]
    mer_nodes = [label.replace("<br/>", " | ") for label in _labels(mer, r'a\d+\["([^"]+)"\]')]
    assert dot_nodes == mer_nodes and "draft | 3x · mean 300.0 ms" in dot_nodes
    dot_edges = _labels(dot, r'a\d+ -> a\d+ \[label="([^"]+)"')
    mer_edges = _labels(mer, r"a\d+ -->\|([^|]+)\| a\d+")
    assert dot_edges == mer_edges and dot_edges[0] == "3x · 400.0 ms"


def _first_pixel(png: bytes) -> tuple[int, ...]:
    """The top-left pixel of an 8-bit RGB/RGBA PNG (the first pixel is the raw byte run under every filter)."""
    import struct
    import zlib

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat, header = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    assert header is not None
    _, _, depth, color, *_ = header
    assert depth == 8 and color in (2, 6), header
    raw = zlib.decompress(idat)
    channels = 4 if color == 6 else 3
    return tuple(raw[1:1 + channels])


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_the_png_is_a_picture_on_white(tmp_path) -> None:
    png = timed_engine().process_map("png", title="support")
    assert isinstance(png, bytes)
    pixel = _first_pixel(png)
    assert pixel[:3] == (255, 255, 255) and (len(pixel) == 3 or pixel[3] == 255), pixel
    svg = timed_engine().process_map("svg", title="support")
    assert b"Process map: support" in svg and SLOW_FILL.encode() in svg
