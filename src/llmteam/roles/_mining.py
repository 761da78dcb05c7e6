"""ProcessMiningEngine: an in-memory, optionally bounded event log with analysis and XES export."""

from __future__ import annotations

import operator
import os
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from itertools import groupby, islice, repeat
from pathlib import Path
from typing import IO, Any, cast

from llmteam.licensing import LicenseTier, check_builtin_gate
from llmteam.roles import _analysis, _process_map, _xes
from llmteam.roles._ids import EventIds
from llmteam.roles._models import (
    Bottleneck,
    DirectlyFollowsGraph,
    ProcessEvent,
    ProcessMetrics,
    ProcessModel,
    Variant,
)

# How many of the orchestrator's events may wait in an engine's pending list (see ProcessMiningEngine._pending_log)
# before they are sorted into their cases: enough to spread the cost of a recording call over many events.
PENDING_MAX = 1024

# ProcessEvent's first eight fields in its positional order, then its attributes as keys and values alternating, in
# the same tuple: what the orchestrator records. Strings, a datetime and numbers only, so the garbage collector stops
# visiting a kept tuple after its first pass (a dict inside would keep it tracked), and each event is one object for
# it to count (the attributes in a tuple of their own made a decision event two); read back as a ProcessEvent by
# event_of(). An event id of None is drawn when the event is built: a kept id is a 36-character string per event,
# which nobody reads before the log is. E.g. (None, ts, "decision:route", "orchestrator", "run1", "complete", 0, 0.0,
# "reason", "default_sequence", "confidence", 1.0), or without attributes, eight fields.
EventFields = tuple[Any, ...]


_FIELDS_CASE = operator.itemgetter(4)
_FIELDS_TIMESTAMP = operator.itemgetter(1)
_TZINFO = operator.attrgetter("tzinfo")


def event_of(fields: EventFields, new_id: Callable[[], str]) -> ProcessEvent:
    """The ProcessEvent that ``fields`` describe (with a fresh attributes dict from the pairs after the eighth field;
    ``new_id()`` when the id is None)."""
    event_id, timestamp, activity, resource, case_id, lifecycle, duration_ms, cost = fields[:8]
    if event_id is None:
        event_id = new_id()
    return ProcessEvent(event_id, timestamp, activity, resource, case_id, lifecycle, duration_ms, cost,
                        dict(zip(fields[8::2], fields[9::2], strict=True)))


class ProcessMiningEngine:
    """Collect process events per case and mine them; with ``max_events`` the oldest events are evicted."""

    def __init__(self, max_events: int | None = None) -> None:
        check_builtin_gate("ProcessMiningEngine", LicenseTier.PROFESSIONAL)
        if max_events is not None and (isinstance(max_events, bool) or not isinstance(max_events, int)
                                       or max_events < 1):
            raise ValueError(f"max_events={max_events!r} must be None (keep everything) or an int >= 1")
        self.max_events = max_events
        self._cases: dict[str, deque[ProcessEvent | EventFields]] = {}
        self._order: deque[str] | None = deque() if max_events is not None else None  # case ids, oldest first
        self._count = 0
        self._unsorted: set[str] = set()
        self._unbuilt: set[str] = set()  # cases holding EventFields not yet turned into ProcessEvents
        self._new_id = EventIds().next_id  # for the orchestrator's events, which come without an id
        self._pending: list[EventFields] = []  # the orchestrator's events not yet in their cases (_pending_log)
        self._naive: bool | None = None
        self._mixed_tz = False
        self._cache: tuple[list[list[ProcessEvent]], _analysis.ActivityProfile | None] | None = None

    # -- recording -------------------------------------------------------------------------------------
    def record_event(self, event: ProcessEvent) -> None:
        """Add ``event`` to its case; evicts the oldest event first when the bound is reached."""
        self._record((event,))

    def record_events(self, events: Collection[ProcessEvent] | Iterator[ProcessEvent]) -> int:
        """Record many events in order (each exactly as :meth:`record_event` would); returns how many.

        An iterator is consumed as it goes (an XES import never becomes one list); events before a failing one
        stay recorded.
        """
        return self._record(events)

    def _record(self, events: Collection[ProcessEvent] | Iterator[ProcessEvent]) -> int:
        """Record ProcessEvents one at a time, each as :meth:`record_event` says (events still pending go first)."""
        if self._pending:
            self._settle()
        self._cache = None
        cases = self._cases
        unsorted = self._unsorted
        order = self._order
        n = 0
        for event in events:
            cid, ts = event.case_id, event.timestamp
            if (ts.tzinfo is None) is not self._naive:
                self._note_timezone(ts.tzinfo is None)
            case = cases.get(cid)
            if case is None:
                cases[cid] = case = deque()
            elif cid not in unsorted and (self._mixed_tz or ts < _timestamp(case[-1])):
                unsorted.add(cid)
            case.append(event)
            self._count += 1
            n += 1
            if order is not None:
                order.append(cid)
                if self._count > self.max_events:  # type: ignore[operator]
                    self._evict(order.popleft())
        return n

    def _record_fields(self, batch: list[EventFields]) -> int:
        """Record the orchestrator's :data:`EventFields` tuples (see :meth:`_pending_log`); returns how many.

        The log ends exactly as :meth:`_record` would leave it, one event at a time, but each stretch of
        consecutive events of one case is handled at once (a run's events mostly come in one stretch): one case
        lookup, and the time checks as C-level passes over the stretch. Nothing is built per event until the log
        is read, when each tuple becomes ``event_of(fields)``, once.

        Why a stretch may go in whole: recording its events one by one, each eviction removes the oldest event of
        the log, never the event just added, so the stretch's case is never emptied (and moved) in between.
        """
        self._cache = None
        cases = self._cases
        unsorted = self._unsorted
        order = self._order
        for cid, group in groupby(batch, _FIELDS_CASE):
            stretch = list(group)
            stamps = list(map(_FIELDS_TIMESTAMP, stretch))
            if self._naive is None:
                self._naive = stamps[0].tzinfo is None
            if list(map(_TZINFO, stamps)).count(None) != (len(stamps) if self._naive else 0):
                self._mixed_tz = True  # a time of the other kind than the log's first
            case = cases.get(cid)
            if case is None:
                cases[cid] = case = deque()
            elif cid not in unsorted:
                stamps.insert(0, _timestamp(case[-1]))  # the stretch must not go back before the case's last
            if cid not in unsorted and (self._mixed_tz or not _ascending(stamps)):
                unsorted.add(cid)
            case.extend(stretch)
            self._unbuilt.add(cid)
            self._count += len(stretch)
            if order is not None:
                order.extend(repeat(cid, len(stretch)))
                while self._count > self.max_events:  # type: ignore[operator]
                    self._evict(order.popleft())
        return len(batch)

    def _pending_log(self) -> tuple[list[EventFields], int]:
        """Where the orchestrator appends its events, as :data:`EventFields` tuples, and how many may wait there:
        before each await it calls :meth:`_settle` once the list holds that many.

        This class reads the list before anything else (every count, view, analysis, export and recording call
        settles it first), so whoever looks at the engine sees each appended event as if recorded at once, in the
        same order; the events are sorted into their cases ``PENDING_MAX`` at a time, one recording call for all.
        A subclass that overrides ``record_event`` or ``record_events`` gets 1: each event reaches its
        ``record_event`` as a ProcessEvent before the orchestrator next awaits, as when recorded one at a time.
        """
        return self._pending, PENDING_MAX if self._records_itself() else 1

    def _records_itself(self) -> bool:
        """False when a subclass overrides ``record_event`` or ``record_events`` (it must see every event)."""
        cls = type(self)
        return cls.record_event is ProcessMiningEngine.record_event and (
            cls.record_events is ProcessMiningEngine.record_events)

    def _settle(self) -> None:
        """Record the pending events (see :meth:`_pending_log`), oldest first."""
        batch = self._pending[:]
        self._pending.clear()  # in place: the orchestrator keeps appending to this list
        if self._records_itself():
            self._record_fields(batch)
        else:
            for fields in batch:
                self.record_event(event_of(fields, self._new_id))

    def _note_timezone(self, naive: bool) -> None:
        """The first event sets whether the log is naive or aware; a later event of the other kind mixes it."""
        if self._naive is None:
            self._naive = naive
        else:
            self._mixed_tz = True

    def _evict(self, cid: str) -> None:
        """Drop the oldest event of case ``cid`` (the oldest of the log: cases keep recording order)."""
        case = self._cases[cid]
        case.popleft()
        self._count -= 1
        if not case:
            del self._cases[cid]
            self._unsorted.discard(cid)
            self._unbuilt.discard(cid)

    def get_event_count(self) -> int:
        """Events currently held."""
        if self._pending:
            self._settle()
        return self._count

    def get_case_count(self) -> int:
        """Distinct case ids currently held."""
        if self._pending:
            self._settle()
        return len(self._cases)

    def clear(self) -> None:
        """Forget every event and case."""
        self._pending.clear()
        self._cases.clear()
        if self._order is not None:
            self._order.clear()
        self._count = 0
        self._unsorted.clear()
        self._unbuilt.clear()
        self._naive = None
        self._mixed_tz = False
        self._cache = None

    # -- views ---------------------------------------------------------------------------------------------
    def _build(self) -> None:
        """Turn every EventFields tuple into its ProcessEvent, in place (case order and event order kept)."""
        cases = self._cases
        new_id = self._new_id
        for cid in self._unbuilt:
            cases[cid] = deque(event_of(e, new_id) if isinstance(e, tuple) else e for e in cases[cid])
        self._unbuilt.clear()

    def _sorted_cases(self) -> list[list[ProcessEvent]]:
        if self._pending:
            self._settle()
        if self._cache is not None:
            return self._cache[0]
        if self._unbuilt:
            self._build()
        built = cast("dict[str, deque[ProcessEvent]]", self._cases)  # only ProcessEvents once built
        unsorted = self._unsorted
        if self._mixed_tz:
            cases = [sorted((_aware(e) for e in c), key=_ts) for c in built.values()]
        else:
            cases = [sorted(c, key=_ts) if cid in unsorted else list(c) for cid, c in built.items()]
        self._cache = (cases, None)
        return cases

    def _profile(self) -> _analysis.ActivityProfile:
        cases = self._sorted_cases()
        assert self._cache is not None
        profile = self._cache[1]
        if profile is None:
            profile = _analysis.ActivityProfile(cases)
            self._cache = (cases, profile)
        return profile

    def iter_cases(self) -> Iterator[tuple[str, list[ProcessEvent]]]:
        """``(case_id, events sorted by timestamp)`` in order of each case's first event."""
        cases = self._sorted_cases()  # first: it settles pending events, which may add cases
        return zip(list(self._cases), cases, strict=True)

    def get_events(self, case_id: str | None = None) -> list[ProcessEvent]:
        """All events (or one case's), cases in first-seen order, each sorted by timestamp."""
        if case_id is not None:
            return next((evs for cid, evs in self.iter_cases() if cid == case_id), [])
        return [e for _, evs in self.iter_cases() for e in evs]

    # -- analysis ------------------------------------------------------------------------------------------
    def discover_model(self) -> ProcessModel:
        """Directly-follows model over every event (contract §7.2)."""
        return _analysis.discover_model(self._sorted_cases())

    def calculate_metrics(self) -> ProcessMetrics:
        """Durations, rates, bottlenecks and waiting times (contract §7.2)."""
        return _analysis.calculate_metrics(self._sorted_cases(), self._profile(), self._count)

    def directly_follows_graph(
        self, lifecycles: Collection[str] | None = _analysis.DEFAULT_DFG_LIFECYCLES
    ) -> DirectlyFollowsGraph:
        """DFG with counts and durations per edge over events in ``lifecycles`` (None = every event)."""
        return _analysis.directly_follows_graph(self._sorted_cases(), lifecycles)

    def find_bottlenecks(self, by: str = "service", top: int | None = 3) -> list[Bottleneck]:
        """Activities ranked by mean service time (``"service"``) or mean waiting time (``"waiting"``)."""
        return _analysis.bottlenecks(self._profile(), by=by, top=top)

    def get_variants(
        self, lifecycles: Collection[str] | None = _analysis.DEFAULT_DFG_LIFECYCLES
    ) -> list[Variant]:
        """Trace variants (activity sequences) with counts, most frequent first."""
        return _analysis.variants(self._sorted_cases(), lifecycles)

    def process_map(self, format: str = "dot", **options: Any) -> str | bytes:
        """The DFG as Graphviz DOT or Mermaid text, or rendered SVG/PNG bytes (needs the ``dot`` binary).

        Activities carry their mean service time and the slowest are highlighted; ``title=`` names the map.
        """
        dfg = self.directly_follows_graph()
        if "service" not in options:
            ranked = self.find_bottlenecks("service", None)
            options["service"] = {  # only activities on the map (its lifecycles) can be drawn or highlighted
                b.activity: b.mean_service_time for b in ranked if b.service_samples and b.activity in dfg.activities
            }
        return _process_map.process_map(dfg, format, **options)

    # -- XES -----------------------------------------------------------------------------------------------
    def export_xes(self, standard: bool = False) -> str:
        """The log as XES: the contract's compact layout, or IEEE 1849 XES with ``standard=True``."""
        return "".join(self.iter_xes(standard=standard))

    def iter_xes(self, standard: bool = False) -> Iterator[str]:
        """The XES document in chunks (one per trace), so large logs never become one string."""
        return _xes.iter_xes(self.iter_cases(), standard=standard)

    def write_xes(self, target: str | os.PathLike[str] | IO[str], standard: bool = False) -> int:
        """Stream the XES document to a path or text file; returns the number of events written."""
        return _xes.write_xes(target, self.iter_cases(), standard=standard)

    def import_xes(self, source: str | os.PathLike[str] | Path) -> int:
        """Record every event of an XES document (text or file path); returns how many were recorded.

        All or nothing: a document refused anywhere (``XESImportError``, e.g. a bad date in its last event), or a
        read that fails or is interrupted, leaves the engine exactly as it was before the call, events evicted by
        ``max_events`` included. The events are recorded as the document is read, so it never becomes one list
        (the engine keeps what it needs to undo: each case's length, or with ``max_events`` a copy of the bounded
        log). A subclass that overrides ``record_events`` or ``record_event`` gets the events of a whole, valid
        document in one ``record_events`` call.
        """
        from llmteam.roles._xes_import import iter_xes_events

        events = iter_xes_events(source)
        if not self._records_itself():
            return self.record_events(list(events))
        undo = self._checkpoint()
        try:
            return self._record(events)
        except BaseException:
            undo()
            raise

    def _checkpoint(self) -> Callable[[], None]:
        """A function that puts the log back as it is now (pending events recorded first): what a refused import
        undoes. Without a bound, recording only adds events at the ends of cases and cases at the end, so each
        case's length is enough; with one, the bounded log is copied (evictions remove events and cases)."""
        if self._pending:
            self._settle()
        cases = self._cases
        count, naive, mixed = self._count, self._naive, self._mixed_tz
        unsorted, unbuilt = set(self._unsorted), set(self._unbuilt)
        lengths = list(map(len, cases.values())) if self._order is None else []
        kept = None if self._order is None else ({cid: deque(c) for cid, c in cases.items()}, deque(self._order))

        def undo() -> None:
            if kept is None:
                while len(cases) > len(lengths):
                    cases.popitem()  # the cases the import added, last first
                for case, n in zip(cases.values(), lengths, strict=True):
                    for _ in range(len(case) - n):
                        case.pop()
            else:
                cases.clear()
                cases.update(kept[0])
                self._order = kept[1]
            self._count, self._naive, self._mixed_tz = count, naive, mixed
            self._unsorted.clear()
            self._unsorted.update(unsorted)
            self._unbuilt.clear()
            self._unbuilt.update(unbuilt)
            self._cache = None

        return undo


def _ts(event: ProcessEvent) -> datetime:
    return event.timestamp


def _timestamp(entry: ProcessEvent | EventFields) -> datetime:
    """The time of a kept entry, an event or the orchestrator's field tuple."""
    return entry[1] if isinstance(entry, tuple) else entry.timestamp


def _ascending(stamps: list[datetime]) -> bool:
    """Whether ``stamps`` never go back in time (one C-level pass)."""
    return all(map(operator.le, stamps, islice(stamps, 1, None)))



def _aware(event: ProcessEvent) -> ProcessEvent:
    """The event with a timezone-aware timestamp (naive times are local time), for mixed logs."""
    if event.timestamp.tzinfo is not None:
        return event
    return replace(event, timestamp=event.timestamp.astimezone(timezone.utc))
