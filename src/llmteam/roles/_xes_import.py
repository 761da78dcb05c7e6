"""XES reader: both llmteam layouts and IEEE 1849 XES from other tools, streamed, checked by expat, DTDs refused."""

from __future__ import annotations

import codecs
import io
import math
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.parsers import expat

from llmteam._repr import bounded_repr
from llmteam.roles._errors import XESImportError
from llmteam.roles._models import ProcessEvent
from llmteam.roles._xes import COST_KEY
from llmteam.roles._xes_scan import EXTRA, FIELD_KEYS, TOKEN, attributes, check_token_length, encoding_of, scan

MAX_TOKEN_CHARS = 1 << 24
"""The longest tag (with its attribute values), comment, CDATA section or processing instruction the XES reader
reads: 16,777,216 characters (16 MiB of ASCII). A longer one is refused with :class:`XESImportError`, however the
document is split into reads, so one hostile value can never make the reader hold or re-scan more than this."""
MAX_DURATION_MS = 10**16 - 1
"""The largest ``llmteam:duration_ms`` the reader takes (and its negative the smallest): 16 digits, well within
64 bits and ``timedelta`` (whose milliseconds end at about 8.6e16), so every duration read can be stored and
analysed. The whole-event pattern of ``_xes_scan`` takes at most 16 digits too."""
_CHUNK = 1 << 16  # reads grow from this up to MAX_TOKEN_CHARS while one token stays unfinished (see _chunks)
_MAX_EXTRAS = 4096  # distinct extra-attribute texts of llmteam-layout events remembered with their values
_MAX_EXTRA_TEXT = 4096  # ... each at most this long


def parse_date(text: str) -> datetime:
    """An XES/ISO-8601 date; ``Z`` is accepted for UTC. Its time in UTC must be a datetime too (years 1 to 9999)."""
    try:
        value = datetime.fromisoformat(text)  # the usual case; what it refuses gets the checks below
    except ValueError:
        value = _lenient_date(text)
    if 1 < value.year < 9999:  # an offset is under a day: only dates in the first or last year can fall outside
        return value
    try:
        value.astimezone(timezone.utc)  # as the standard export, the event log and mixed-zone logs convert it
    except (OverflowError, ValueError, OSError):
        raise XESImportError(
            f"XES date {bounded_repr(text)} is out of range in UTC (before 0001-01-01 or after 9999-12-31); use a"
            " date whose UTC time is within those years"
        ) from None
    return value


def _lenient_date(text: str) -> datetime:
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
_TEXT_FIELDS = frozenset({"activity", "resource", "lifecycle", "event_id"})


def _kind(tag: str, seen: dict[str, tuple[int, str]]) -> tuple[int, str]:
    """What the element ``tag`` is and its name without a prefix, remembered per distinct tag within a bound."""
    name = tag.rsplit(":", 1)[-1]
    kind = (_KINDS.get(name, _OTHER), name)
    if len(seen) < _MAX_TAGS:
        seen[tag] = kind
    return kind


def _key_value(name: str, attrs: list[str]) -> tuple[str, str]:
    """The key and value of an attribute element from its XML attributes ``[name, value, name, value, ...]``."""
    if len(attrs) == 4 and attrs[0] == "key" and attrs[2] == "value":
        return attrs[1], attrs[3]
    named = dict(zip(attrs[::2], attrs[1::2], strict=True))
    key, raw = named.get("key"), named.get("value")
    if key is None or raw is None:
        raise XESImportError(f"<{name}> element without key/value attributes (key={bounded_repr(key)}) in a trace")
    return key, raw


def _field_value(field: str, name: str, key: str, raw: str) -> Any:
    """An event field's value from its XES text: the timestamp, or a finite duration or cost."""
    if field == "timestamp":
        return parse_date(raw)
    if field == "duration_ms":
        duration = int(_number("int" if name == "int" else "float", key, raw, finite=True))
        if -MAX_DURATION_MS <= duration <= MAX_DURATION_MS:
            return duration
        raise XESImportError(
            f"attribute {bounded_repr(key)}: {bounded_repr(raw)} is out of range; a duration is a whole number of"
            f" milliseconds of at most 16 digits (at most {MAX_DURATION_MS:,} ms, about 316,000 years)"
        )
    return float(_number("float", key, raw, finite=True))


def _extras(text: str) -> tuple[tuple[str, Any], ...]:
    """The extra attributes of an event in llmteam's layout, (key, value) in document order."""
    return tuple((key, raw if tag == "string" else _convert(tag, key, raw)) for tag, key, raw in EXTRA.findall(text))


def _event(fields: dict[str, Any], attrs: dict[str, Any], case_id: str | None, index: int) -> ProcessEvent:
    """The ``index``-th event of the log from the fields and attributes read from its element."""
    if "timestamp" not in fields:
        raise XESImportError(
            f"event #{index} (case {bounded_repr(case_id)}) has no time:timestamp; every event needs one"
        )
    return ProcessEvent(
        fields["event_id"] if "event_id" in fields else str(uuid.uuid4()), fields["timestamp"],
        fields.get("activity", ""), fields.get("resource", ""), case_id if case_id is not None else f"trace-{index}",
        fields.get("lifecycle", "complete"), fields.get("duration_ms", 0), fields.get("cost", 0.0), attrs,
    )


class _Reader:
    """Turns the chunks of an XES document into ProcessEvent objects.

    Expat checks each chunk first, with no Python callback per element (a DOCTYPE or an entity declaration is
    refused at once); the reader then takes the same text's markup from ``TOKEN.findall`` (see ``_xes_scan``) and
    keeps the unfinished token at its end for the next chunk. An event in the layout llmteam writes arrives as one
    tuple; everything else as tags, read by the state machine in ``_read``, which gives the same events (a test
    compares the two on the same documents, with the whole-event alternative of the pattern turned off).
    """

    token = TOKEN
    """The markup pattern (tests swap in ``token_pattern(whole_events=False)`` to compare with tag-by-tag reading)."""

    def __init__(self) -> None:
        self.parser = expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._refuse
        self.parser.EntityDeclHandler = self._refuse
        self.case_id: str | None = None
        self.seen_log = False
        self.index = 0
        self.elements = 0  # tokens read so far: how iter_xes_events tells that a chunk finished one
        self._pending = ""
        self._state: tuple[int, bool, dict[str, Any] | None, dict[str, Any]] = (0, False, None, {})
        self._kinds: dict[str, tuple[int, str]] = {}
        self._extras: dict[str, tuple[tuple[str, Any], ...]] = {}

    @property
    def unfinished(self) -> int:
        """How long the token the last piece left unfinished is (0: none)."""
        return len(self._pending)

    @staticmethod
    def _refuse(*_args: Any) -> None:
        raise XESImportError("XES input with a DOCTYPE or entity declarations is refused (XML bomb protection)")

    def feed(self, data: str, final: bool = False) -> list[ProcessEvent]:
        """The events completed by the next piece of the document's text (``final``: the end of the document)."""
        try:
            self.parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise XESImportError(f"XES input is not well-formed XML: {exc}") from exc
        except UnicodeEncodeError as exc:  # a lone surrogate in text given as a str
            raise XESImportError(f"XES input holds {bounded_repr(exc.object[exc.start:exc.end])}, which is not a"
                                 " Unicode character; only text that encodes as UTF-8 can be read") from None
        pending = self._pending
        tokens, self._pending = scan(self.token, pending, data)
        if pending and len(pending) + len(data) > MAX_TOKEN_CHARS:  # rare: only while reading a long token
            # the token the last read left unfinished (iter_xes_events never reads more than the limit at once, so
            # only such a token can be longer)
            check_token_length(pending + data if tokens else self._pending, MAX_TOKEN_CHARS)
        if final and self._pending:
            raise XESImportError(f"internal error: the XES reader could not read {bounded_repr(self._pending)}"
                                 " that expat accepted; please report it with the file")
        self.elements += len(tokens)
        return self._read(tokens)

    def _read(self, tokens: list[tuple[str, ...]]) -> list[ProcessEvent]:
        """The events the tokens finish, from the state the previous chunk left (one state machine, inline)."""
        out: list[ProcessEvent] = []
        kinds, extras, fields, text_fields = self._kinds, self._extras, FIELD_KEYS, _TEXT_FIELDS
        depth, in_trace, event, attrs = self._state
        case_id, index = self.case_id, self.index
        for (activity, resource, stamp, lifecycle, event_id, duration, cost, extra,
             tag, key, raw, start, named, empty, end, _, bad) in tokens:
            if stamp:  # a whole <event> in llmteam's layout: what its tags one by one would give
                if depth:
                    continue
                if not in_trace:
                    if event is not None:  # an event element left open around a trace that ended
                        index += 1
                        out.append(_event(event, attrs, case_id, index))
                    event = None
                    continue
                found = extras.get(extra)
                if found is None:
                    found = _extras(extra)
                    if len(extras) < _MAX_EXTRAS and len(extra) <= _MAX_EXTRA_TEXT:
                        extras[extra] = found
                index += 1
                out.append(ProcessEvent(
                    event_id or str(uuid.uuid4()), parse_date(stamp), activity, resource,
                    case_id if case_id is not None else f"trace-{index}", lifecycle, int(duration) if duration else 0,
                    _field_value("cost", "float", COST_KEY, cost) if cost else 0.0, dict(found),
                ))
                event = None
                continue
            if end:
                if depth:
                    depth -= 1
                    continue
                kind = (kinds.get(end) or _kind(end, kinds))[0]
                if kind == _EVENT:
                    if event is not None:
                        index += 1
                        out.append(_event(event, attrs, case_id, index))
                        event = None
                elif kind == _TRACE:
                    in_trace = False
                continue
            if tag:  # <name key="..." value="..."/>
                closed = True
            elif start:
                tag, closed = start, bool(empty)
            elif bad:
                raise XESImportError(f"internal error: the XES reader could not read the markup at {bad!r} that"
                                     " expat accepted; please report it with the file")
            else:
                continue  # a comment, CDATA section or processing instruction
            # a start tag; ``closed``: an empty-element tag, its start and its end at once
            if depth:
                if not closed:
                    depth += 1  # nested (meta-)attributes are not part of the flat model
                continue
            kind, name = kinds.get(tag) or _kind(tag, kinds)
            if kind == _ATTRIBUTE:
                if not closed:
                    depth = 1
                if not in_trace:
                    continue
                if start:
                    key, raw = _key_value(name, attributes(named))
                if event is None:
                    if key == "concept:name" and case_id is None:
                        case_id = raw
                    continue
                field = fields.get(key)
                if field is None or field in event:
                    attrs[key] = raw if name == "string" else _convert(name, key, raw)
                else:
                    event[field] = raw if field in text_fields else _field_value(field, name, key, raw)
            elif kind == _EVENT:
                if in_trace:
                    event, attrs = {}, {}
                if closed and event is not None:
                    index += 1
                    out.append(_event(event, attrs, case_id, index))
                    event = None
            elif kind == _NESTED:
                if not closed:
                    depth = 1
            elif kind == _TRACE:
                in_trace, case_id = not closed, None
            elif kind == _LOG:
                self.seen_log = True
        self._state = (depth, in_trace, event, attrs)
        self.case_id, self.index = case_id, index
        return out


def _looks_like_xml(source: str) -> bool:
    return source.lstrip().startswith("<")


def _decoded(fh: io.BufferedReader) -> Callable[[int], str]:
    """``read(size)`` of a binary XES file as text, in the encoding its first bytes name (see ``encoding_of``)."""
    decoder: codecs.IncrementalDecoder | None = None
    encoding = "utf-8"

    def read(size: int) -> str:
        nonlocal decoder, encoding
        data = fh.read(size)
        if decoder is None:
            encoding = encoding_of(data)
            decoder = codecs.getincrementaldecoder(encoding)()
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise XESImportError(f"XES file is not valid {encoding} text: {exc.reason} at byte {exc.start} of a read;"
                                 " re-save it as UTF-8 or declare its encoding") from None
        except UnicodeError as exc:  # a codec that refuses to decode at all
            raise XESImportError(f"XES file cannot be decoded as {bounded_repr(encoding)}: {bounded_repr(str(exc))};"
                                 " re-save it as UTF-8") from None
        return text if text or not data else read(size)  # an empty piece would read as the end of the file

    return read


def iter_xes_events(source: str | os.PathLike[str] | Path) -> Iterator[ProcessEvent]:
    """Yield the events of an XES document given as text or as a file path, reading files in chunks."""
    reader = _Reader()
    if isinstance(source, str) and _looks_like_xml(source):
        yield from _chunks(reader, io.StringIO(source).read)
    else:
        path = Path(source)
        if not path.is_file():
            raise XESImportError(
                f"XES source {bounded_repr(os.fspath(source))} is neither XES text nor an existing file"
            )
        with path.open("rb") as fh:
            yield from _chunks(reader, _decoded(fh))
    if not reader.seen_log:
        raise XESImportError("XES input has no <log> root element")


def _chunks(reader: _Reader, read: Callable[[int], str]) -> Iterator[ProcessEvent]:
    # expat and the token pattern re-scan an unfinished token from its start at every feed: while no token is
    # finished, double the next read, so one long value costs O(its size) in total, not O(size^2 / chunk). Never
    # more than MAX_TOKEN_CHARS at once, so a token longer than that is always seen unfinished (check_token_length),
    # and no more than takes the unfinished token past that limit (then refused: nothing more is read or kept)
    first = size = min(_CHUNK, MAX_TOKEN_CHARS)
    while chunk := read(size):
        seen = reader.elements
        yield from reader.feed(chunk)
        if reader.elements != seen:
            size = first
        else:
            size = min(size * 2, max(first, MAX_TOKEN_CHARS + 1 - reader.unfinished))
    yield from reader.feed("", final=True)


def import_xes(source: str | os.PathLike[str] | Path) -> list[ProcessEvent]:
    """Every event of an XES document (text or file path), in document order."""
    return list(iter_xes_events(source))
