"""XES reader: both llmteam layouts and IEEE 1849 XES from other tools, streamed with expat, DTDs refused."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.parsers import expat

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
        raise XESImportError(f"invalid XES date {text!r}; use ISO 8601, e.g. 2024-01-31T12:00:00+00:00") from exc


def _convert(tag: str, key: str, raw: str) -> Any:
    try:
        if tag == "int":
            return int(raw)
        if tag == "float":
            return float(raw)
    except ValueError as exc:
        raise XESImportError(f"attribute {key!r}: {raw!r} is not a valid XES {tag}") from exc
    if tag == "boolean":
        if raw.strip().lower() not in ("true", "false", "1", "0"):
            raise XESImportError(f"attribute {key!r}: {raw!r} is not a valid XES boolean (true/false)")
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

    @staticmethod
    def _refuse(*_args: Any) -> None:
        raise XESImportError("XES input with a DOCTYPE or entity declarations is refused (XML bomb protection)")

    def start(self, tag: str, attrs: dict[str, str]) -> None:
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
            raise XESImportError(f"<{tag}> element without key/value attributes (key={key!r}) in a trace")
        if self.event is None:
            if key == "concept:name" and self.case_id is None:
                self.case_id = raw
            return
        field = _FIELD_KEYS.get(key)
        if field is not None and field not in self.event:
            if field == "timestamp":
                self.event[field] = parse_date(raw)
            elif field == "duration_ms":
                self.event[field] = int(_convert("int", key, raw)) if tag == "int" else int(float(raw))
            elif field == "cost":
                self.event[field] = float(raw)
            else:
                self.event[field] = raw
        else:
            self.event["attributes"][key] = _convert(tag, key, raw)

    def end(self, tag: str) -> None:
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
                f"event #{self.index} (case {self.case_id!r}) has no time:timestamp; every event needs one"
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
            raise XESImportError(f"XES source {os.fspath(source)!r} is neither XES text nor an existing file")
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield from reader.feed(chunk)
        yield from reader.feed(b"", final=True)
    if not reader.seen_log:
        raise XESImportError("XES input has no <log> root element")


def import_xes(source: str | os.PathLike[str] | Path) -> list[ProcessEvent]:
    """Every event of an XES document (text or file path), in document order."""
    return list(iter_xes_events(source))
