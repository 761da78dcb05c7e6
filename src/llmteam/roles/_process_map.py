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


SLOW_FILL, SLOW_LINE, NODE_FILL = "#f8c9c4", "#c0392b", "#eef3fb"


def _human(d: timedelta) -> str:
    """A duration as people read it, the same in every format: ``72.4 ms`` (``1.2 s``, ``3.5 min``, ``2.0 h``)."""
    seconds = d.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _dot_str(text: str) -> str:
    """A double-quoted DOT string with backslashes, quotes and newlines escaped."""
    cleaned = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{cleaned}"'


def slowest(service: dict[str, timedelta] | None, top: int = 3) -> list[str]:
    """The slowest activities by mean service time, the ones the map highlights: a third of them, 1 to ``top``."""
    ranked = sorted((service or {}).items(), key=lambda item: item[1], reverse=True)
    keep = max(1, min(top, len(ranked) // 3))
    return [name for name, d in ranked[:keep] if d > timedelta(0)]


def node_lines(activity: str, count: int, service: dict[str, timedelta] | None) -> list[str]:
    """An activity's label lines, identical in DOT and Mermaid: its name, then ``3x · mean 72.4 ms``."""
    mean = (service or {}).get(activity)
    return [activity, f"{count}x" + (f" · mean {_human(mean)}" if mean is not None else "")]


def edge_label(count: int, mean: timedelta) -> str:
    """A transition's label, identical in DOT and Mermaid: how often it happened and the mean time it took."""
    return f"{count}x · {_human(mean)}"


def legend(title: str, cases: int, highlighted: list[str]) -> list[str]:
    """The title and legend lines shown on the map."""
    lines = [f"Process map: {title}, {cases} cases",
             "box: activity - times run · mean service time / arrow: transition - times · mean time between"]
    if highlighted:
        lines.append(f"red: the slowest activities - {', '.join(highlighted)}")
    return lines


def _cases(dfg: DirectlyFollowsGraph) -> int:
    return sum(dfg.start_activities.values())


def to_dot(dfg: DirectlyFollowsGraph, title: str = "process", service: dict[str, timedelta] | None = None,
           top_slowest: int = 3) -> str:
    """Graphviz DOT text on a white background: a title and legend, activities with counts and mean service
    time (the slowest highlighted in red), edges labelled with count and mean duration."""
    ids = {a: f"a{i}" for i, a in enumerate(dfg.activities)}
    hot = slowest(service, top_slowest)
    caption = "\n".join(legend(title, _cases(dfg), hot))
    lines = [
        f"digraph {_dot_str(title)} {{",
        "  rankdir=LR;",
        f'  graph [bgcolor="white", labelloc=t, labeljust=l, fontname="Helvetica", fontsize=12, '
        f"label={_dot_str(caption)}];",
        f'  node [shape=box, style="rounded,filled", fillcolor="{NODE_FILL}", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  start [shape=circle, label="", fillcolor="#7fbf7f", width=0.3];',
        '  end [shape=doublecircle, label="", fillcolor="#e08080", width=0.3];',
    ]
    for activity, count in dfg.activities.items():
        label = "\n".join(node_lines(activity, count, service))
        style = f', fillcolor="{SLOW_FILL}", color="{SLOW_LINE}", penwidth=2' if activity in hot else ""
        lines.append(f"  {ids[activity]} [label={_dot_str(label)}{style}];")
    for activity, count in dfg.start_activities.items():
        lines.append(f"  start -> {ids[activity]} [label={_dot_str(f'{count}x')}, style=dashed];")
    top = max((e.count for e in dfg.edges.values()), default=1)
    for edge in dfg.edges.values():
        width = 1 + 3 * edge.count / top
        label = edge_label(edge.count, edge.mean_duration)
        lines.append(
            f"  {ids[edge.source]} -> {ids[edge.target]} [label={_dot_str(label)}, penwidth={width:.2f}];"
        )
    for activity, count in dfg.end_activities.items():
        lines.append(f"  {ids[activity]} -> end [label={_dot_str(f'{count}x')}, style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    return _MERMAID_UNSAFE.sub(" ", text).strip() or "_"


def to_mermaid(dfg: DirectlyFollowsGraph, title: str = "process", service: dict[str, timedelta] | None = None,
               top_slowest: int = 3) -> str:
    """Mermaid flowchart text of the same map: same title, legend, labels and highlighting as :func:`to_dot`
    (labels stripped of Mermaid syntax characters)."""
    ids = {a: f"a{i}" for i, a in enumerate(dfg.activities)}
    hot = slowest(service, top_slowest)
    lines = ["---", f"title: {_mermaid_label(legend(title, _cases(dfg), hot)[0])}", "---", "flowchart LR"]
    lines += [f"  %% {_mermaid_label(line)}" for line in legend(title, _cases(dfg), hot)[1:]]
    lines += ["  start((start))", "  stop(((end)))"]
    for activity, count in dfg.activities.items():
        label = "<br/>".join(_mermaid_label(part) for part in node_lines(activity, count, service))
        lines.append(f'  {ids[activity]}["{label}"]')
    for activity, count in dfg.start_activities.items():
        lines.append(f"  start -.->|{count}x| {ids[activity]}")
    for edge in dfg.edges.values():
        label = _mermaid_label(edge_label(edge.count, edge.mean_duration))
        lines.append(f"  {ids[edge.source]} -->|{label}| {ids[edge.target]}")
    for activity, count in dfg.end_activities.items():
        lines.append(f"  {ids[activity]} -.->|{count}x| stop")
    lines.append(f"  classDef slow fill:{SLOW_FILL},stroke:{SLOW_LINE},stroke-width:2px")
    if hot:
        lines.append(f"  class {','.join(ids[a] for a in hot)} slow")
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
        return to_mermaid(dfg, **options)
    if format in IMAGE_FORMATS:
        return render_dot(to_dot(dfg, **options), format)
    raise ValueError(f"process map format {format!r} is not supported; use one of {', '.join(FORMATS)}")
