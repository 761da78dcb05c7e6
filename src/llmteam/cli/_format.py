"""One way to show numbers: durations as ``72.4 ms`` for people and as milliseconds (``*_ms``) in JSON, floats
rounded, costs with their unit, tables that fit 80 columns without cutting names."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.table import Table

JSON_DIGITS = 6  # floats in JSON output are rounded to this many decimals


def to_ms(value: timedelta | float) -> float:
    """A duration in milliseconds, rounded to 3 decimals (a float is taken as milliseconds already)."""
    ms = value.total_seconds() * 1000 if isinstance(value, timedelta) else float(value)
    return round(ms, 3)


def human_ms(value: timedelta | float) -> str:
    """A duration for people: ``72.4 ms`` (``1,204.9 ms`` over a second; one unit everywhere)."""
    return f"{to_ms(value):,.1f} ms"


def _ms_key(key: str) -> str:
    return key.replace("_time", "_ms") if "_time" in key else f"{key}_ms"


def json_data(value: Any) -> Any:
    """``value`` as JSON data: durations become milliseconds under a ``*_ms`` key, floats rounded, datetimes ISO."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, timedelta):
                out[_ms_key(str(key))] = to_ms(item)
            elif isinstance(item, dict) and item and all(isinstance(v, timedelta) for v in item.values()):
                out[_ms_key(str(key))] = {k: to_ms(v) for k, v in item.items()}
            else:
                out[str(key)] = json_data(item)
        return out
    if isinstance(value, (list, tuple)):
        return [json_data(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return round(value, JSON_DIGITS)
    if isinstance(value, timedelta):
        return to_ms(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def cost_text(cost: float, unpriced: int, requests: int) -> str:
    """A cost cell: the figure, ``unpriced`` when no request had a price, ``+ unpriced`` when some had none."""
    if unpriced and unpriced >= requests:
        return "unpriced"
    figure = f"{cost:.4f}" if cost >= 0.0001 or cost == 0 else f"{cost:.2e}"
    return f"{figure} + unpriced" if unpriced else figure


def table(*columns: str, title: str | None = None, numeric: tuple[str, ...] = ()) -> Table:
    """A compact table: numbers right-aligned and never cut; text folds onto more lines instead of being cut
    (set a column's ``min_width`` to keep a name on one line)."""
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
              collapse_padding=True)
    for col in columns:
        if col in numeric:
            t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
        else:
            t.add_column(col, overflow="fold")
    return t
