"""BASELINE ONLY, not llmteam's reader: ``src/llmteam/roles/_xes_import.py`` as it was when issue 17 measured it.

A verbatim copy of the reader at commit 5ae2bb5^ (expat with one Python callback per start and end tag, the
60k events/s "today" of issue 17), kept so ``bench_mining_peers.py`` times it side by side with the current
reader in the same run instead of quoting a figure from another day. Never imported by the package or the tests.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.parsers import expat

from llmteam._repr import bounded_repr
from llmteam.roles._errors import XESImportError
from llmteam.roles._models import ProcessEvent
from llmteam.roles._xes import COST_KEY, DURATION_KEY, EVENT_ID_KEY

_ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id", "list", "container"})
_FIELD_KEYS = {
    "concept:name": "activity",
    "org:resource": "resource",
    "time:timestamp": "timestamp",
    "lifecycle:transition": "lifecycle",
    EVENT_ID_KEY: "event_id",
    DURATION_KEY: "duration_ms",
    COST_KEY: "cost",
}
_CHUNK = 1 << 16
_MAX_CHUNK = 1 << 26  # reads grow up to 64 MiB while one token stays unfinished (see iter_xes_events)


def _local(tag: str) -> str:
    """The element name without a namespace (expat reports ``uri name`` when namespaces are on)."""
    return tag.rsplit(" ", 1)[-1].rsplit(":", 1)[-1]


def parse_date(text: str) -> datetime:
    """An XES/ISO-8601 date; ``Z`` is accepted for UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise XESImportError(
            f"invalid XES date {bounded_repr(text)}; use ISO 8601, e.g. 2024-01-31T12:00:00+00:00"
        ) from exc


def _number(tag: str, key: str, raw: str, finite: bool = False) -> int | float:
    """An XES int or float; ``finite`` refuses NaN and infinities (durations and costs feed the metrics)."""
    try:
        value: int | float = int(raw) if tag == "int" else float(raw)
    except ValueError:  # also an int of more digits than Python converts (sys.get_int_max_str_digits)
        raise XESImportError(f"attribute {bounded_repr(key)}: {bounded_repr(raw)} is not a valid XES {tag}") from None
    if finite and not math.isfinite(value):
        raise XESImportError(
            f"attribute {bounded_repr(key)}: {bounded_repr(raw)} is not a finite number; durations and costs must be"
            " real numbers"
        )
    return value


def _convert(tag: str, key: str, raw: str) -> Any:
    if tag in ("int", "float"):
        return _number(tag, key, raw)
    if tag == "boolean":
        if raw.strip().lower() not in ("true", "false", "1", "0"):
            raise XESImportError(
                f"attribute {bounded_repr(key)}: {bounded_repr(raw)} is not a valid XES boolean (true/false)"
            )
        return raw.strip().lower() in ("true", "1")
    if tag == "date":
        return parse_date(raw)
    return raw


class _Reader:
    """Expat handlers that turn trace/event elements into ProcessEvent objects."""

    def __init__(self) -> None:
        self.parser = expat.ParserCreate()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.StartDoctypeDeclHandler = self._refuse
        self.parser.EntityDeclHandler = self._refuse
        self.ready: list[ProcessEvent] = []
        self.depth_in_attr = 0
        self.case_id: str | None = None
        self.in_trace = False
        self.event: dict[str, Any] | None = None
        self.seen_log = False
        self.index = 0
        self.elements = 0  # element boundaries seen: how iter_xes_events tells that expat made progress

    @staticmethod
    def _refuse(*_args: Any) -> None:
        raise XESImportError("XES input with a DOCTYPE or entity declarations is refused (XML bomb protection)")

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.elements += 1
        name = _local(tag)
        if self.depth_in_attr:
            self.depth_in_attr += 1  # nested (meta-)attributes are not part of the flat model
            return
        if name == "log":
            self.seen_log = True
        elif name == "trace":
            self.in_trace, self.case_id = True, None
        elif name == "event" and self.in_trace:
            self.event = {"attributes": {}}
        elif name in _ATTRIBUTE_TAGS:
            self.depth_in_attr = 1
            if self.in_trace and name not in ("list", "container"):
                self._attribute(name, attrs)

    def _attribute(self, tag: str, attrs: dict[str, str]) -> None:
        key, raw = attrs.get("key"), attrs.get("value")
        if key is None or raw is None:
            raise XESImportError(
                f"<{tag}> element without key/value attributes (key={bounded_repr(key)}) in a trace"
            )
        if self.event is None:
            if key == "concept:name" and self.case_id is None:
                self.case_id = raw
            return
        field = _FIELD_KEYS.get(key)
        if field is not None and field not in self.event:
            if field == "timestamp":
                self.event[field] = parse_date(raw)
            elif field == "duration_ms":
                self.event[field] = int(_number("int" if tag == "int" else "float", key, raw, finite=True))
            elif field == "cost":
                self.event[field] = float(_number("float", key, raw, finite=True))
            else:
                self.event[field] = raw
        else:
            self.event["attributes"][key] = _convert(tag, key, raw)

    def end(self, tag: str) -> None:
        self.elements += 1
        if self.depth_in_attr:
            self.depth_in_attr -= 1
            return
        name = _local(tag)
        if name == "event" and self.event is not None:
            self._finish_event()
        elif name == "trace":
            self.in_trace = False

    def _finish_event(self) -> None:
        ev, self.event = self.event, None
        assert ev is not None
        self.index += 1
        if "timestamp" not in ev:
            raise XESImportError(
                f"event #{self.index} (case {bounded_repr(self.case_id)}) has no time:timestamp; every event needs one"
            )
        self.ready.append(ProcessEvent(
            event_id=ev["event_id"] if "event_id" in ev else str(uuid.uuid4()),
            timestamp=ev["timestamp"],
            activity=ev.get("activity", ""),
            resource=ev.get("resource", ""),
            case_id=self.case_id if self.case_id is not None else f"trace-{self.index}",
            lifecycle=ev.get("lifecycle", "complete"),
            duration_ms=ev.get("duration_ms", 0),
            cost=ev.get("cost", 0.0),
            attributes=ev["attributes"],
        ))

    def feed(self, data: str | bytes, final: bool = False) -> list[ProcessEvent]:
        try:
            self.parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise XESImportError(f"XES input is not well-formed XML: {exc}") from exc
        out, self.ready = self.ready, []
        return out


def _looks_like_xml(source: str) -> bool:
    return source.lstrip().startswith("<")


def iter_xes_events(source: str | os.PathLike[str] | Path) -> Iterator[ProcessEvent]:
    """Yield the events of an XES document given as text or as a file path, reading files in chunks."""
    reader = _Reader()
    if isinstance(source, str) and _looks_like_xml(source):
        yield from reader.feed(source, final=True)
    else:
        path = Path(source)
        if not path.is_file():
            raise XESImportError(
                f"XES source {bounded_repr(os.fspath(source))} is neither XES text nor an existing file"
            )
        size = _CHUNK
        with path.open("rb") as fh:
            while chunk := fh.read(size):
                seen = reader.elements
                yield from reader.feed(chunk)
                # expat re-scans an unfinished token from its start at every feed: while no element boundary is
                # reached, double the next read, so one huge value costs O(its size) in total, not O(size^2 / chunk)
                size = _CHUNK if reader.elements != seen else min(size * 2, _MAX_CHUNK)
        yield from reader.feed(b"", final=True)
    if not reader.seen_log:
        raise XESImportError("XES input has no <log> root element")


def import_xes(source: str | os.PathLike[str] | Path) -> list[ProcessEvent]:
    """Every event of an XES document (text or file path), in document order."""
    return list(iter_xes_events(source))
