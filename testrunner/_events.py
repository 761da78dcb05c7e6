"""The worker's event stream as the supervisor reads it: one JSON object per line, bounded and checked.

The pipe is not trusted: a test can find its write end (a forked child shares it) and write anything. A line that
is not one of the plugin's events, or is longer than MAX_LINE, is a crash of that worker (``bad-event``); newlines
are searched in new data only, and the supervisor reads at most READ_PER_PASS bytes of a worker per loop pass, so
a flood of lines never keeps it from the clocks and memory samples.
"""

from __future__ import annotations

import json
import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_LINE = 1 << 20
READ_PER_PASS = 1 << 20
_SHOWN = 120  # bytes of a bad line quoted in the culprit's text

OUTCOMES = frozenset({"passed", "failed", "skipped", "error", "xfailed", "xpassed"})
_NUM = (int, float)
# kind -> required fields and their types (the plugin's events; optional fields are checked where they are read)
_FIELDS: dict[str, dict[str, Any]] = {
    "hello": {},
    "collecting": {"path": str},
    "collected_part": {"nodeids": list, "timeouts": dict},
    "collected": {"nodeids": list, "timeouts": dict},
    "collect_error": {"nodeid": str, "text": str},
    "start": {"nodeid": str, "rss": int},
    "result": {"nodeid": str, "outcome": str, "duration": _NUM, "text": str, "rss": int, "rss_before": int},
    "interrupted": {},
    "done": {"exitstatus": int},
    "crash": {},
}


class BadEvent(Exception):
    """The worker's pipe carried something that is not one of the plugin's events."""


def split_lines(buf: bytearray, chunk: bytes) -> list[bytes]:
    """Append ``chunk`` to ``buf``; return the lines it completed (consumed from ``buf``). Only the new data is
    searched for a newline, so a long line costs linear time; a line over MAX_LINE raises BadEvent."""
    start = len(buf)
    buf += chunk
    last = buf.rfind(b"\n", start)
    lines: list[bytes] = []
    if last >= 0:
        lines = bytes(buf[:last]).split(b"\n")
        del buf[: last + 1]
    if len(buf) > MAX_LINE or any(len(line) > MAX_LINE for line in lines):
        raise BadEvent(f"a line over {MAX_LINE} bytes on the worker's event pipe (a test wrote to it?)")
    return lines


def parse_event(line: bytes) -> dict[str, Any]:
    """The event in ``line``, checked against the plugin's events; BadEvent if it is not one of them."""
    try:
        ev = json.loads(line)
    except ValueError:
        ev = None
    if not (isinstance(ev, dict) and _valid(ev)):
        raise BadEvent(f"not an event of the runner on the worker's event pipe (a test wrote to it?): "
                       f"{line[:_SHOWN]!r}{'...' if len(line) > _SHOWN else ''}")
    return ev


def _valid(ev: dict[str, Any]) -> bool:
    kind = ev.get("ev")
    fields = _FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return False
    for name, types in fields.items():
        value = ev.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            return False
    return _sane(ev)


def _sane(ev: dict[str, Any]) -> bool:
    """Values the supervisor relies on: node ids are strings, timeouts finite seconds > 0, a known outcome."""
    kind = ev["ev"]
    if kind in ("collected", "collected_part"):
        return all(isinstance(n, str) for n in ev["nodeids"]) and all(
            isinstance(v, _NUM) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in ev["timeouts"].values())
    if kind == "result":
        return ev["outcome"] in OUTCOMES and math.isfinite(ev["duration"]) and ev["duration"] >= 0
    return True
