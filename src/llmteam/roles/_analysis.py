"""Log analysis over cases whose events are sorted by time: metrics, model, DFG, bottlenecks, variants."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from llmteam.roles._models import (
    Bottleneck,
    DFGEdge,
    DirectlyFollowsGraph,
    ProcessEvent,
    ProcessMetrics,
    ProcessModel,
    Variant,
)

Case = Sequence[ProcessEvent]
ZERO = timedelta(0)
_NO_TIME = datetime.min  # never subtracted: an edge needs a previous event, which sets the time
HOUR = timedelta(hours=1)
DEFAULT_DFG_LIFECYCLES: frozenset[str] = frozenset({"complete", "error"})
WAIT_LIFECYCLE = "wait"
"""Lifecycle of a waiting period (``wait:queue``, ``wait:approval``): one event stamped when the wait ended, its
length in ``duration_ms``; it counts as waiting time of its activity, never as service time."""

_US = timedelta(microseconds=1)
_MAX_MS = timedelta.max // timedelta(milliseconds=1)  # the most milliseconds a timedelta holds


class _Wide:
    """A sum of timedeltas past what a timedelta holds (about 2.7 million years), exact in microseconds: what a
    running total becomes on OverflowError, so the mean (``/ n``) is still exact. ``+`` takes timedeltas."""

    __slots__ = ("us",)

    def __init__(self, total: timedelta | _Wide, more: timedelta) -> None:
        self.us: int = (total.us if isinstance(total, _Wide) else total // _US) + more // _US

    def __add__(self, more: timedelta) -> _Wide:
        return _Wide(self, more)

    def __truediv__(self, n: int) -> timedelta:
        q, r = divmod(self.us, n)  # rounded half to even, as timedelta / int rounds
        return timedelta(microseconds=q + (2 * r > n or (2 * r == n and q % 2 == 1)))


def _plus(total: timedelta | _Wide, more: timedelta) -> timedelta | _Wide:
    """``total + more`` for a running total: a :class:`_Wide` once no timedelta holds it."""
    try:
        return total + more
    except OverflowError:
        return _Wide(total, more)


def _ms(value: float) -> timedelta:
    """``timedelta(milliseconds=value)``, at timedelta's limit when it holds no such duration (built in code)."""
    if -_MAX_MS <= value <= _MAX_MS:
        return timedelta(milliseconds=value)
    return timedelta.max if value > 0 else timedelta.min


class ActivityProfile:
    """Per-activity counts, service times (``duration_ms`` > 0) and waiting times, from one pass.

    Waiting time is the gap before a ``start`` event, and the ``duration_ms`` of a ``wait`` event.
    """

    __slots__ = ("counts", "service", "waiting")

    def __init__(self, cases: Sequence[Case]) -> None:
        counts: Counter[str] = Counter()
        service: dict[str, list[int]] = {}
        waiting: dict[str, list[Any]] = {}
        for events in cases:
            counts.update([e.activity for e in events])
            prev = None
            for e in events:
                gap = None
                if e.lifecycle == WAIT_LIFECYCLE:  # a wait is never service time
                    gap = _ms(max(0, e.duration_ms))
                elif e.duration_ms > 0:
                    s = service.get(e.activity)
                    if s is None:
                        service[e.activity] = [e.duration_ms, 1]
                    else:
                        s[0] += e.duration_ms
                        s[1] += 1
                if e.lifecycle == "start" and prev is not None:
                    gap = e.timestamp - prev.timestamp
                if gap is not None:
                    w = waiting.get(e.activity)
                    if w is None:
                        waiting[e.activity] = [gap, 1]
                    else:
                        w[0] = _plus(w[0], gap)
                        w[1] += 1
                prev = e
        self.counts = counts
        self.service = service
        self.waiting = waiting

    def mean_service_ms(self) -> dict[str, float]:
        """Mean ``duration_ms`` per activity over events with a positive duration."""
        return {a: total / n for a, (total, n) in self.service.items()}

    def mean_waiting(self) -> dict[str, timedelta]:
        """Mean wait before each activity's ``start`` events."""
        return {a: total / n for a, (total, n) in self.waiting.items()}


def calculate_metrics(cases: Sequence[Case], profile: ActivityProfile, total_events: int) -> ProcessMetrics:
    """The contract's metrics (durations, rates, top-3 service bottlenecks, waiting times)."""
    total: timedelta | _Wide = ZERO
    measured = 0
    min_d: timedelta | None = None
    max_d: timedelta | None = None
    completed = 0
    first = last = None
    for events in cases:
        t0 = events[0].timestamp
        t1 = events[-1].timestamp
        if len(events) >= 2:
            d = t1 - t0
            total = _plus(total, d)
            measured += 1
            if min_d is None or d < min_d:
                min_d = d
            if max_d is None or d > max_d:
                max_d = d
        if first is None or t0 < first:
            first = t0
        if last is None or t1 > last:
            last = t1
        for e in events:
            if e.lifecycle == "complete":
                completed += 1
                break
    n_cases = len(cases)
    span = max(HOUR, last - first) if first is not None and last is not None else HOUR
    denom = max(1, total_events)
    errors = sum(n for a, n in profile.counts.items() if "error" in a.lower())
    retries = sum(n for a, n in profile.counts.items() if "retry" in a.lower())
    means = profile.mean_service_ms()
    return ProcessMetrics(
        avg_duration=total / measured if measured else ZERO,
        min_duration=min_d if min_d is not None else ZERO,
        max_duration=max_d if max_d is not None else ZERO,
        cases_per_hour=n_cases / (span / HOUR),
        completion_rate=completed / n_cases if n_cases else 0.0,
        error_rate=errors / denom,
        retry_rate=retries / denom,
        bottleneck_activities=sorted(means, key=means.__getitem__, reverse=True)[:3],
        waiting_time_by_activity=profile.mean_waiting(),
    )


def discover_model(cases: Sequence[Case]) -> ProcessModel:
    """Directly-follows model over every event, with transitions in order of first appearance."""
    activities: dict[str, None] = {}
    transitions: dict[str, dict[str, None]] = {}
    frequencies: Counter[str] = Counter()
    for events in cases:
        acts = [e.activity for e in events]
        activities.update(dict.fromkeys(acts))
        for a, b in pairwise(acts):
            succ = transitions.get(a)
            if succ is None:
                transitions[a] = {b: None}
            elif b not in succ:
                succ[b] = None
        frequencies.update([f"{a}->{b}" for a, b in pairwise(acts)])
    return ProcessModel(
        activities=list(activities),
        transitions={a: list(s) for a, s in transitions.items()},
        frequencies=dict(frequencies),
    )


def _filtered(cases: Sequence[Case], lifecycles: Collection[str] | None) -> list[Case]:
    if lifecycles is None:
        return list(cases)
    kept: list[Case] = []
    for events in cases:
        sub = [e for e in events if e.lifecycle in lifecycles]
        if sub:
            kept.append(sub)
    return kept


def directly_follows_graph(
    cases: Sequence[Case], lifecycles: Collection[str] | None = DEFAULT_DFG_LIFECYCLES
) -> DirectlyFollowsGraph:
    """Edges with counts and source-to-target durations, over events whose lifecycle is in ``lifecycles``.

    One pass that allocates nothing per case: filtered copies of a million-event log would keep the
    garbage collector busy walking the log itself, which costs more than the analysis.
    """
    acts: dict[str, int] = {}
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    gaps: dict[str, dict[str, list[timedelta]]] = {}
    for events in cases:
        prev: str | None = None
        prev_ts = _NO_TIME
        for e in events:
            if lifecycles is not None and e.lifecycle not in lifecycles:
                continue
            act = e.activity
            ts = e.timestamp
            acts[act] = acts.get(act, 0) + 1
            if prev is None:
                starts[act] = starts.get(act, 0) + 1
            else:
                successors = gaps.get(prev)
                if successors is None:
                    gaps[prev] = successors = {}
                edge = successors.get(act)
                if edge is None:
                    successors[act] = [ts - prev_ts]
                else:
                    edge.append(ts - prev_ts)
            prev = act
            prev_ts = ts
        if prev is not None:
            ends[prev] = ends.get(prev, 0) + 1
    edges = {(a, b): _edge(a, b, g) for a, successors in gaps.items() for b, g in successors.items()}
    return DirectlyFollowsGraph(acts, starts, ends, edges)


def _edge(a: str, b: str, gaps: list[timedelta]) -> DFGEdge:
    try:
        return DFGEdge(a, b, len(gaps), sum(gaps, ZERO), min(gaps), max(gaps))
    except OverflowError:  # no timedelta holds the total
        return _SaturatedEdge(a, b, gaps)


class _SaturatedEdge(DFGEdge):
    """A DFG edge whose total duration no timedelta holds: ``total_duration`` is timedelta's limit (it saturates),
    the mean is exact."""

    def __init__(self, source: str, target: str, gaps: list[timedelta]) -> None:
        total = _Wide(ZERO, ZERO)
        for gap in gaps:
            total += gap
        limit = timedelta.max if total.us > 0 else timedelta.min
        super().__init__(source, target, len(gaps), limit, min(gaps), max(gaps))
        self._mean = total / len(gaps)

    @property
    def mean_duration(self) -> timedelta:
        """Mean time between the source event and the target event."""
        return self._mean


def bottlenecks(profile: ActivityProfile, by: str = "service", top: int | None = 3) -> list[Bottleneck]:
    """Activities ranked by mean service time (``by="service"``) or mean waiting time (``by="waiting"``)."""
    if by not in ("service", "waiting"):
        raise ValueError(f"by={by!r} is not supported; use 'service' or 'waiting'")
    service = profile.mean_service_ms()
    waiting = profile.mean_waiting()
    source: dict[str, Any] = service if by == "service" else waiting
    ranked = sorted(source, key=source.__getitem__, reverse=True)
    if top is not None:
        ranked = ranked[: max(0, top)]
    return [
        Bottleneck(
            activity=a,
            mean_service_time=_ms(service.get(a, 0.0)),
            mean_waiting_time=waiting.get(a, ZERO),
            service_samples=profile.service[a][1] if a in profile.service else 0,
            waiting_samples=profile.waiting[a][1] if a in profile.waiting else 0,
        )
        for a in ranked
    ]


def variants(
    cases: Sequence[Case], lifecycles: Collection[str] | None = DEFAULT_DFG_LIFECYCLES
) -> list[Variant]:
    """Distinct activity sequences with their case counts, most frequent first (ties: first seen)."""
    counts: Counter[tuple[str, ...]] = Counter(
        tuple([e.activity for e in events]) for events in _filtered(cases, lifecycles)
    )
    n = sum(counts.values())
    return [Variant(seq, c, c / n) for seq, c in counts.most_common()]
