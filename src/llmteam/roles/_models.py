"""Process-mining data: events, metrics, discovered models and the analysis results built on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(slots=True)
class ProcessEvent:
    """One step of one case (run): what happened, who did it, when, in which lifecycle phase.

    Slotted: logs hold many events, and slots make each one smaller and quicker for the garbage collector to visit.
    """

    event_id: str
    timestamp: datetime
    activity: str
    resource: str
    case_id: str
    lifecycle: str = "complete"
    duration_ms: int = 0
    cost: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProcessMetrics:
    """Aggregate performance figures of a log (see ``ProcessMiningEngine.calculate_metrics``)."""

    avg_duration: timedelta
    min_duration: timedelta
    max_duration: timedelta
    cases_per_hour: float
    completion_rate: float
    error_rate: float
    retry_rate: float
    bottleneck_activities: list[str]
    waiting_time_by_activity: dict[str, timedelta]


@dataclass
class ProcessModel:
    """A directly-follows model: activities, successors per activity and ``"A->B"`` frequencies."""

    activities: list[str]
    transitions: dict[str, list[str]]
    frequencies: dict[str, int]
    fitness: float = 1.0
    precision: float = 1.0


@dataclass
class DFGEdge:
    """One directly-follows edge: how often ``target`` directly followed ``source`` and how long it took."""

    source: str
    target: str
    count: int
    total_duration: timedelta
    min_duration: timedelta
    max_duration: timedelta

    @property
    def mean_duration(self) -> timedelta:
        """Mean time between the source event and the target event."""
        return self.total_duration / self.count if self.count else timedelta(0)


@dataclass
class DirectlyFollowsGraph:
    """Directly-follows graph: activity counts, start/end activities and edges keyed by ``(source, target)``."""

    activities: dict[str, int]
    start_activities: dict[str, int]
    end_activities: dict[str, int]
    edges: dict[tuple[str, str], DFGEdge]


@dataclass
class Bottleneck:
    """An activity's mean service time (``duration_ms``) and mean waiting time (before its ``start`` events)."""

    activity: str
    mean_service_time: timedelta
    mean_waiting_time: timedelta
    service_samples: int
    waiting_samples: int


@dataclass
class Variant:
    """A trace variant: one distinct activity sequence and how many cases followed it."""

    activities: tuple[str, ...]
    count: int
    share: float
