"""Inline SVG bar charts for the dashboard (no JavaScript; labels are escaped by the template engine)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Bar:
    """One bar: label, value, where it starts and how wide it is (in chart units)."""

    label: str
    value: float
    text: str
    y: int
    width: float


def bars(items: dict[str, float], fmt: str = "{:,.0f}", width: int = 210, row: int = 28) -> tuple[list[Bar], int]:
    """Horizontal bars scaled to the largest value; (bars, chart height)."""
    peak = max(items.values(), default=0.0) or 1.0
    out = [Bar(label, value, fmt.format(value), i * row, max(2.0, width * value / peak))
           for i, (label, value) in enumerate(sorted(items.items(), key=lambda kv: -kv[1])[:20])]
    return out, max(row, len(out) * row)
