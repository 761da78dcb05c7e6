"""Process maps from a directly-follows graph: Graphviz DOT and Mermaid text, SVG/PNG through ``dot``."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from typing import Any

from llmteam.roles._errors import ProcessMapRenderError
from llmteam.roles._models import DirectlyFollowsGraph

TEXT_FORMATS = ("dot", "mermaid")
IMAGE_FORMATS = ("svg", "png")
FORMATS = TEXT_FORMATS + IMAGE_FORMATS
_MERMAID_UNSAFE = re.compile(r'["\[\]{}()<>|#;`\\\n\r]')


def _human(d: timedelta) -> str:
    seconds = d.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def _dot_str(text: str) -> str:
    """A double-quoted DOT string with backslashes, quotes and newlines escaped."""
    cleaned = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{cleaned}"'


def to_dot(dfg: DirectlyFollowsGraph, title: str = "process") -> str:
    """Graphviz DOT text: activities with counts, edges labelled with count and mean duration."""
    ids = {a: f"a{i}" for i, a in enumerate(dfg.activities)}
    lines = [
        f"digraph {_dot_str(title)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  start [shape=circle, label="", fillcolor="#7fbf7f", width=0.3];',
        '  end [shape=doublecircle, label="", fillcolor="#e08080", width=0.3];',
    ]
    for activity, count in dfg.activities.items():
        lines.append(f"  {ids[activity]} [label={_dot_str(f'{activity} ({count})')}];")
    for activity, count in dfg.start_activities.items():
        lines.append(f"  start -> {ids[activity]} [label={_dot_str(str(count))}, style=dashed];")
    top = max((e.count for e in dfg.edges.values()), default=1)
    for edge in dfg.edges.values():
        width = 1 + 3 * edge.count / top
        label = f"{edge.count} | {_human(edge.mean_duration)}"
        lines.append(
            f"  {ids[edge.source]} -> {ids[edge.target]} [label={_dot_str(label)}, penwidth={width:.2f}];"
        )
    for activity, count in dfg.end_activities.items():
        lines.append(f"  {ids[activity]} -> end [label={_dot_str(str(count))}, style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    return _MERMAID_UNSAFE.sub(" ", text).strip() or "_"


def to_mermaid(dfg: DirectlyFollowsGraph) -> str:
    """Mermaid flowchart text of the same graph (labels stripped of Mermaid syntax characters)."""
    ids = {a: f"a{i}" for i, a in enumerate(dfg.activities)}
    lines = ["flowchart LR", "  start((start))", "  stop(((end)))"]
    for activity, count in dfg.activities.items():
        lines.append(f'  {ids[activity]}["{_mermaid_label(activity)} ({count})"]')
    for activity, count in dfg.start_activities.items():
        lines.append(f"  start -.->|{count}| {ids[activity]}")
    for edge in dfg.edges.values():
        lines.append(
            f"  {ids[edge.source]} -->|{edge.count} / {_human(edge.mean_duration)}| {ids[edge.target]}"
        )
    for activity, count in dfg.end_activities.items():
        lines.append(f"  {ids[activity]} -.->|{count}| stop")
    return "\n".join(lines) + "\n"


def render_dot(dot_text: str, format: str = "svg", timeout: float = 60.0) -> bytes:
    """Render DOT text to SVG or PNG bytes with the Graphviz ``dot`` binary."""
    if format not in IMAGE_FORMATS:
        raise ValueError(f"image format {format!r} is not supported; use one of {', '.join(IMAGE_FORMATS)}")
    binary = shutil.which("dot")
    if binary is None:
        raise ProcessMapRenderError(
            f"rendering a {format} process map needs the Graphviz 'dot' binary, which is not on PATH; "
            "install graphviz (e.g. apt-get install graphviz) or use format 'dot' or 'mermaid'"
        )
    try:
        done = subprocess.run(
            [binary, f"-T{format}"], input=dot_text.encode("utf-8"), capture_output=True,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProcessMapRenderError(f"Graphviz 'dot' did not finish within {timeout}s") from exc
    if done.returncode != 0:
        raise ProcessMapRenderError(
            f"Graphviz 'dot' failed (exit {done.returncode}): {done.stderr.decode(errors='replace')[:500]}"
        )
    return done.stdout


def process_map(dfg: DirectlyFollowsGraph, format: str = "dot", **options: Any) -> str | bytes:
    """The graph as ``dot``/``mermaid`` text, or ``svg``/``png`` bytes rendered by Graphviz."""
    if format == "dot":
        return to_dot(dfg, **options)
    if format == "mermaid":
        return to_mermaid(dfg)
    if format in IMAGE_FORMATS:
        return render_dot(to_dot(dfg, **options), format)
    raise ValueError(f"process map format {format!r} is not supported; use one of {', '.join(FORMATS)}")
