"""XES writers: the contract's compact layout and IEEE 1849 XES, streamed trace by trace."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from operator import attrgetter
from typing import IO, Any

from llmteam._files import atomic_text_writer
from llmteam.roles._models import ProcessEvent
from llmteam.roles._xes_time import Clock, UTCText

HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
XES_NS = "http://www.xes-standard.org/"
DURATION_KEY = "llmteam:duration_ms"
EVENT_ID_KEY = "identity:id"
COST_KEY = "cost:total"
EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Identity", "identity", "http://www.xes-standard.org/identity.xesext"),
    ("Cost", "cost", "http://www.xes-standard.org/cost.xesext"),
)
_STANDARD_PREAMBLE = (
    HEADER
    + f'<log xes.version="1849-2016" xes.features="" xmlns="{XES_NS}">\n'
    + "".join(f'  <extension name="{n}" prefix="{p}" uri="{u}"/>\n' for n, p, u in EXTENSIONS)
    + '  <global scope="trace">\n'
    + '    <string key="concept:name" value="__INVALID__"/>\n'
    + "  </global>\n"
    + '  <global scope="event">\n'
    + '    <string key="concept:name" value="__INVALID__"/>\n'
    + '    <string key="org:resource" value="__INVALID__"/>\n'
    + '    <date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/>\n'
    + '    <string key="lifecycle:transition" value="complete"/>\n'
    + "  </global>\n"
    + '  <classifier name="Activity" keys="concept:name"/>\n'
    + '  <classifier name="Activity classifier" keys="concept:name lifecycle:transition"/>\n'
    + '  <classifier name="Resource classifier" keys="org:resource"/>\n'
    + '  <string key="concept:name" value="llmteam process log"/>\n'
    + '  <string key="lifecycle:model" value="standard"/>\n'
)
_COMPACT_PREAMBLE = HEADER + "<log>\n"
_FOOTER = "</log>\n"

# Characters XML 1.0 forbids (replaced by U+FFFD) and characters that need escaping in an attribute value.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPECIAL = re.compile("[&<>\"\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_ESCAPE_ANY = re.compile('[&<>"\t\n\r]')
_CACHE_LIMIT = 4096
_cache: dict[str, str] = {}
_INT64 = (-(2**63), 2**63 - 1)


def escape(value: str) -> str:
    """``value`` safe inside a double-quoted XML 1.0 attribute: escaped, illegal characters replaced.

    Always a plain ``str`` of the characters that were checked: formatting a ``str`` subclass would call its
    ``__str__``, which could return markup the check never saw.
    """
    if type(value) is not str:
        value = str.__str__(value)
    if _SPECIAL.search(value) is None:
        return value
    cached = _cache.get(value)
    if cached is not None:
        return cached
    text = _ILLEGAL.sub("\ufffd", value)
    text = _ESCAPE_ANY.sub(lambda m: _ESCAPES[m.group(0)], text)
    if len(_cache) < _CACHE_LIMIT and len(value) < 256:
        _cache[value] = text
    return text


def _compact_stamp(ts: datetime) -> str:
    """A timestamp in the compact layout: ``datetime.isoformat``, a subclass's own ``isoformat`` escaped."""
    return datetime.isoformat(ts) if type(ts) is datetime else escape(ts.isoformat())


def _typed(key: str, value: Any, utc: UTCText) -> str:
    """One typed XES attribute element for an attribute value."""
    k = escape(key)
    if isinstance(value, bool):
        return f'<boolean key="{k}" value="{"true" if value else "false"}"/>'
    if isinstance(value, int) and _INT64[0] <= value <= _INT64[1]:
        return f'<int key="{k}" value="{value}"/>'
    if isinstance(value, float) and math.isfinite(value):
        return f'<float key="{k}" value="{value!r}"/>'
    if isinstance(value, datetime):
        return f'<date key="{k}" value="{utc(value)}"/>'
    return f'<string key="{k}" value="{escape(_text(value))}"/>'


_ID_END = '"/>\n'
_CACHED_TYPES = frozenset({str, int, bool, float, type(None)})
_STR = frozenset({str})
_EVENT_ID = attrgetter("event_id")
Entry = tuple[str, ...]


def _text(value: Any) -> str:
    """What an attribute key or value is written as: a ``str`` (subclasses too) its characters, else ``str()``."""
    return value if isinstance(value, str) else str(value)


class _Parts:
    """Escaped text of the parts that events of one log repeat, rendered once per distinct combination (bounded).

    An event is written as ``head`` (activity and resource), its timestamp, ``middle`` (lifecycle; in the compact
    layout also the attributes and the end), then, in the standard layout only, the event id, duration and cost
    (different in every event) and ``rest`` (attributes and the end). Logs repeat a few activities, resources,
    lifecycles and attribute sets, so escaping once per distinct combination makes the escaping writer cheaper
    than formatting every value of every event.

    Equal keys must mean equal text. ``known`` is keyed by ``(activity, resource, lifecycle, *attribute keys,
    *attribute values)`` and holds only events whose attribute keys and values are all ``str``: equal ``str``
    values hold the same characters, which is what is written, and no built-in value of another type equals a
    ``str`` (an object whose own ``__eq__`` and ``__hash__`` claim equality with one is written as that ``str``).
    Other events are looked up in ``typed``, whose keys add the type of every attribute key and value, since
    plain equality crosses types there (``True == 1 == 1.0``); ``0.0 == -0.0`` and NaN are never kept.
    """

    __slots__ = ("_size", "_utc", "known", "standard", "tails", "typed")

    def __init__(self, standard: bool, utc: UTCText) -> None:
        self.standard = standard
        self._utc = utc
        self.known: dict[tuple[Any, ...], Entry] = {}
        self.typed: dict[tuple[Any, ...], Entry] = {}
        self.tails: dict[int, str] = {0: _ID_END}  # standard layout: id line end and duration line per int duration
        self._size = 0

    def find(self, e: ProcessEvent, key: tuple[Any, ...]) -> Entry:
        """The parts of an event that ``known`` did not hold under ``key`` (rendered, and kept within the bound)."""
        attrs = e.attributes
        table = self.known
        if not {*map(type, key)} - _STR:  # plain str: written as they are when none has anything to escape
            found = self.render(e, plain=_SPECIAL.search("".join(key)) is None)
        else:
            key = (*key, *map(type, attrs), *map(type, attrs.values()))
            table = self.typed
            try:
                remembered = table.get(key)
            except TypeError:  # an unhashable attribute value: rendered every time
                return self.render(e)
            if remembered is not None:
                return remembered
            if not all(type(v) in _CACHED_TYPES and (type(v) is not float or (v == v and v != 0.0))
                       for v in attrs.values()):
                return self.render(e)
            found = self.render(e)
        if self._size < _CACHE_LIMIT:
            table[key] = found
            self._size += 1
        return found

    def render(self, e: ProcessEvent, plain: bool = False) -> Entry:
        """The parts of the event; ``plain``: its values are all ``str`` with nothing to escape (written as is)."""
        attrs = e.attributes
        esc = str if plain else escape
        head = (
            "    <event>\n"
            f'      <string key="concept:name" value="{esc(e.activity)}"/>\n'
            f'      <string key="org:resource" value="{esc(e.resource)}"/>\n'
            '      <date key="time:timestamp" value="'
        )
        middle = f'"/>\n      <string key="lifecycle:transition" value="{esc(e.lifecycle)}"/>\n'
        if plain:  # every attribute a string element in both layouts
            rest = "".join([f'      <string key="{k}" value="{v}"/>\n' for k, v in attrs.items()])
        elif self.standard:
            rest = "".join([f"      {_typed(_text(k), v, self._utc)}\n" for k, v in attrs.items()])
        else:
            rest = "".join([f'      <string key="{escape(_text(k))}" value="{escape(_text(v))}"/>\n'
                            for k, v in attrs.items()])
        if self.standard:
            return head, middle + f'      <id key="{EVENT_ID_KEY}" value="', rest + "    </event>\n"
        return head, middle + rest + "    </event>\n"

    def tail(self, duration: Any, cost: Any) -> str:
        """The end of the id line, then the duration and cost lines (those not zero); per ``int`` duration kept."""
        if cost or type(duration) is not int:
            return _numbers(duration, cost, self._utc)
        text = self.tails.get(duration)
        if text is None:
            text = _numbers(duration, 0, self._utc)
            if len(self.tails) < _CACHE_LIMIT:
                self.tails[duration] = text
        return text


def _numbers(duration: Any, cost: Any, utc: UTCText) -> str:
    """The end of the id line, then the duration and cost lines of a standard-layout event (those not zero)."""
    text = _ID_END
    if duration:
        if type(duration) is int and _INT64[0] <= duration <= _INT64[1]:
            text += f'      <int key="{DURATION_KEY}" value="{duration}"/>\n'
        else:
            text += f"      {_typed(DURATION_KEY, duration, utc)}\n"
    if cost:
        text += f"      {_typed(COST_KEY, float(cost), utc)}\n"
    return text


def _trace(case_id: str, events: Sequence[ProcessEvent], known: _Parts, clock: Clock) -> str:
    """One ``<trace>`` in either layout, as a list of pieces joined once (no string is built per event).

    Per event: its remembered parts (``known``), its timestamp composed within the current hour (see ``Clock``)
    and, in the standard layout, its event id and the id/duration/cost lines. The per-event lookups are inline
    because they run once per event; event ids are checked for the whole trace first (written as they are when
    all are plain ``str`` with nothing to escape, else escaped one by one).
    """
    out = [f'  <trace>\n    <string key="concept:name" value="{escape(str(case_id))}"/>\n']
    table, tails = known.known, known.tails
    zone, lo, hi, base, prefix, (mmss, whole, millis, micros) = clock.hour
    if not known.standard:  # the timestamp, then the rest of the event (fold only matters to UTC text)
        for e in events:
            attrs = e.attributes
            key = (e.activity, e.resource, e.lifecycle, *attrs, *attrs.values())
            try:
                found = table.get(key)
            except TypeError:  # an unhashable attribute value
                found = None
            if found is None:
                found = known.find(e, key)
            ts = e.timestamp
            if type(ts) is datetime and ts.tzinfo is zone and lo <= ts < hi:
                d = ts - base
                if micro := d.microseconds:
                    out += found[0], prefix, mmss[d.seconds], millis[micro // 1000], micros[micro % 1000], found[1]
                else:
                    out += found[0], prefix, whole[d.seconds], found[1]
            else:
                text, hour = clock.start(ts)
                if hour is not None:
                    zone, lo, hi, base, prefix, (mmss, whole, millis, micros) = hour
                out += found[0], text, found[1]
    else:  # the same, then the event id and the id/duration/cost lines
        ids = list(map(_EVENT_ID, events))
        if {*map(type, ids)} - {str} or _SPECIAL.search("".join(ids)):
            ids = list(map(escape, ids))
        for e, event_id in zip(events, ids, strict=True):
            attrs = e.attributes
            key = (e.activity, e.resource, e.lifecycle, *attrs, *attrs.values())
            try:
                found = table.get(key)
            except TypeError:
                found = None
            if found is None:
                found = known.find(e, key)
            ts = e.timestamp
            if type(ts) is datetime and ts.tzinfo is zone and lo <= ts < hi and not ts.fold:
                d = ts - base
                if micro := d.microseconds:
                    out += found[0], prefix, mmss[d.seconds], millis[micro // 1000], micros[micro % 1000]
                else:
                    out += found[0], prefix, whole[d.seconds]
            else:
                text, hour = clock.start(ts)
                if hour is not None:
                    zone, lo, hi, base, prefix, (mmss, whole, millis, micros) = hour
                out += found[0], text
            ms = e.duration_ms
            tail = tails.get(ms) if type(ms) is int and not e.cost else None
            out += found[1], event_id, known.tail(ms, e.cost) if tail is None else tail, found[2]
    clock.hour = zone, lo, hi, base, prefix, (mmss, whole, millis, micros)
    out.append("  </trace>\n")
    return "".join(out)


class XESChunks:
    """The pieces of one XES document, for writers that produce traces one at a time (sync or async)."""

    def __init__(self, standard: bool = False) -> None:
        self.standard = standard
        self.preamble = _STANDARD_PREAMBLE if standard else _COMPACT_PREAMBLE
        self.footer = _FOOTER
        utc = UTCText()
        self._known = _Parts(standard, utc)
        self._clock = Clock(utc if standard else _compact_stamp)

    def trace(self, case_id: str, events: Sequence[ProcessEvent]) -> str:
        """One ``<trace>`` element with its events (already sorted by timestamp)."""
        return _trace(case_id, events, self._known, self._clock)


def iter_xes(cases: Iterable[tuple[str, Sequence[ProcessEvent]]], standard: bool = False) -> Iterator[str]:
    """Yield the XES document in chunks: the preamble, one chunk per trace, the closing tag."""
    chunks = XESChunks(standard)
    yield chunks.preamble
    for case_id, events in cases:
        yield chunks.trace(case_id, events)
    yield chunks.footer


def write_xes(
    target: str | os.PathLike[str] | IO[str],
    cases: Iterable[tuple[str, Sequence[ProcessEvent]]],
    standard: bool = False,
) -> int:
    """Stream the XES document to a path (written atomically) or an open text file; returns events written."""
    counted = _Counting(cases)
    if isinstance(target, (str, os.PathLike)):
        with atomic_text_writer(target) as fh:  # a random O_EXCL temp name: never through a planted symlink
            fh.writelines(iter_xes(counted, standard))
    else:
        target.writelines(iter_xes(counted, standard))
    return counted.events


class _Counting:
    """Pass cases through while counting their events."""

    def __init__(self, cases: Iterable[tuple[str, Sequence[ProcessEvent]]]) -> None:
        self._cases = cases
        self.events = 0

    def __iter__(self) -> Iterator[tuple[str, Sequence[ProcessEvent]]]:
        for case_id, events in self._cases:
            self.events += len(events)
            yield case_id, events
