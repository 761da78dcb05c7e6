"""XES reader: both llmteam layouts and IEEE 1849 XES from other tools, streamed with expat, DTDs refused."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.parsers import expat

from llmteam._repr import bounded_repr
from llmteam.roles._errors import XESImportError
from llmteam.roles._models import ProcessEvent
from llmteam.roles._xes import COST_KEY, DURATION_KEY, EVENT_ID_KEY

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
    try:
        return datetime.fromisoformat(text)  # the usual case; what it refuses gets the checks below
    except ValueError:
        pass
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


_ATTRIBUTE, _NESTED, _EVENT, _TRACE, _LOG, _OTHER = range(6)
_KINDS = {
    **dict.fromkeys(("string", "date", "int", "float", "boolean", "id"), _ATTRIBUTE),
    "list": _NESTED, "container": _NESTED, "event": _EVENT, "trace": _TRACE, "log": _LOG,
}
_MAX_TAGS = 1024  # distinct element names remembered with their kind (prefixed names: any number in a hostile file)


def _kind(tag: str, seen: dict[str, tuple[int, str]]) -> tuple[int, str]:
    """What the element ``tag`` is and its name without a prefix, remembered per distinct tag within a bound."""
    name = _local(tag)
    kind = (_KINDS.get(name, _OTHER), name)
    if len(seen) < _MAX_TAGS:
        seen[tag] = kind
    return kind


def _key_value(name: str, attrs: list[str]) -> tuple[str, str]:
    """The key and value of an attribute element whose XML attributes are not exactly ``key`` then ``value``."""
    named = dict(zip(attrs[::2], attrs[1::2], strict=True))
    key, raw = named.get("key"), named.get("value")
    if key is None or raw is None:
        raise XESImportError(f"<{name}> element without key/value attributes (key={bounded_repr(key)}) in a trace")
    return key, raw


_TEXT_FIELDS = frozenset({"activity", "resource", "lifecycle", "event_id"})


def _field_value(field: str, name: str, key: str, raw: str) -> Any:
    """An event field's value from its XES text: the timestamp, or a finite duration or cost."""
    if field == "timestamp":
        return parse_date(raw)
    if field == "duration_ms":
        return int(_number("int" if name == "int" else "float", key, raw, finite=True))
    return float(_number("float", key, raw, finite=True))


class _Reader:
    """Expat handlers that turn trace/event elements into ProcessEvent objects.

    The handlers run for every element, so they are closures over their state (no attribute lookups), take the
    attributes as ``[name, value, name, value, ...]`` (expat's ordered attributes: no dict per element) and look
    each element name's kind up once per distinct name.
    """

    def __init__(self) -> None:
        self.parser = expat.ParserCreate()
        self.parser.ordered_attributes = True
        self.parser.StartDoctypeDeclHandler = self._refuse
        self.parser.EntityDeclHandler = self._refuse
        self.ready: list[ProcessEvent] = []
        self.case_id: str | None = None
        self.seen_log = False
        self.index = 0
        self._kinds: dict[str, tuple[int, str]] = {}
        self.parser.StartElementHandler, self.parser.EndElementHandler, self._started = self._handlers()

    @property
    def elements(self) -> int:
        """Elements started so far: how iter_xes_events tells that expat made progress."""
        return self._started()

    @staticmethod
    def _refuse(*_args: Any) -> None:
        raise XESImportError("XES input with a DOCTYPE or entity declarations is refused (XML bomb protection)")

    def _handlers(self) -> tuple[Callable[[str, list[str]], None], Callable[[str], None], Callable[[], int]]:
        kinds = self._kinds
        depth_in_attr = started = 0
        in_trace = False
        event: dict[str, Any] | None = None
        attributes: dict[str, Any] = {}
        attribute, fields, text_fields = _ATTRIBUTE, _FIELD_KEYS, _TEXT_FIELDS  # closure cells: no global lookups

        def start(tag: str, attrs: list[str]) -> None:
            nonlocal depth_in_attr, started, in_trace, event, attributes
            started += 1
            if depth_in_attr:
                depth_in_attr += 1  # nested (meta-)attributes are not part of the flat model
                return
            kind, name = kinds.get(tag) or _kind(tag, kinds)
            if kind == attribute:
                depth_in_attr = 1
                if not in_trace:
                    return
                if len(attrs) == 4 and attrs[0] == "key" and attrs[2] == "value":
                    _, key, _, raw = attrs
                else:
                    key, raw = _key_value(name, attrs)
                if event is None:
                    if key == "concept:name" and self.case_id is None:
                        self.case_id = raw
                    return
                field = fields.get(key)
                if field is None or field in event:
                    attributes[key] = raw if name == "string" else _convert(name, key, raw)
                else:
                    event[field] = raw if field in text_fields else _field_value(field, name, key, raw)
            elif kind == _EVENT:
                if in_trace:
                    event, attributes = {}, {}
            elif kind == _NESTED:
                depth_in_attr = 1
            elif kind == _TRACE:
                in_trace, self.case_id = True, None
            elif kind == _LOG:
                self.seen_log = True

        def end(tag: str) -> None:
            nonlocal depth_in_attr, in_trace, event
            if depth_in_attr:
                depth_in_attr -= 1
                return
            kind = (kinds.get(tag) or _kind(tag, kinds))[0]
            if kind == _EVENT:
                if event is not None:
                    self._finish_event(event, attributes)
                    event = None
            elif kind == _TRACE:
                in_trace = False

        return start, end, lambda: started

    def _finish_event(self, ev: dict[str, Any], attributes: dict[str, Any]) -> None:
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
            attributes=attributes,
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
