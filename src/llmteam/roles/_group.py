"""Group orchestration: route runs across pipelines fairly, fan out, aggregate, and keep statuses honest."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

logger = logging.getLogger(__name__)
_TICK = timedelta(microseconds=1)
MAX_REMEMBERED_ERRORS = 1000


class GroupDecisionType(Enum):
    """What a group strategy decided to do with a run."""

    ROUTE_TO_PIPELINE = "route_to_pipeline"
    PARALLEL_PIPELINES = "parallel_pipelines"
    AGGREGATE_RESULTS = "aggregate_results"
    ESCALATE = "escalate"


@dataclass
class GroupOrchestrationDecision:
    """Which pipelines get a run, and how parallel results are combined."""

    decision_type: GroupDecisionType
    target_pipelines: list[str]
    aggregation_strategy: str = "merge"
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineStatus:
    """A pipeline's state in a group: ``idle``, ``running``, ``failed`` or ``completed``."""

    pipeline_id: str
    status: str
    progress: float
    current_step: str
    error_count: int
    last_update: datetime


class GroupOrchestrationStrategy:
    """Base class of group strategies: subclasses implement :meth:`decide`."""

    async def decide(
        self, pipelines: dict[str, PipelineStatus], input_data: dict[str, Any]
    ) -> GroupOrchestrationDecision:
        """Return the decision for one run."""
        raise NotImplementedError(f"{type(self).__name__} must implement async decide(pipelines, input_data)")


def _escalate() -> GroupOrchestrationDecision:
    return GroupOrchestrationDecision(GroupDecisionType.ESCALATE, [], reason="no_pipelines_available")


class LoadBalancingStrategy(GroupOrchestrationStrategy):
    """Least recently used idle pipeline; else the least advanced one; else escalate."""

    async def decide(
        self, pipelines: dict[str, PipelineStatus], input_data: dict[str, Any]
    ) -> GroupOrchestrationDecision:
        """Pick one pipeline fairly."""
        idle = [s for s in pipelines.values() if s.status == "idle"]
        if idle:
            chosen = min(idle, key=lambda s: s.last_update)
            return GroupOrchestrationDecision(
                GroupDecisionType.ROUTE_TO_PIPELINE, [chosen.pipeline_id], reason="load_balancing:idle"
            )
        if pipelines:
            chosen = min(pipelines.values(), key=lambda s: (s.progress, s.last_update))
            return GroupOrchestrationDecision(
                GroupDecisionType.ROUTE_TO_PIPELINE, [chosen.pipeline_id], reason="load_balancing:least_progress"
            )
        return _escalate()


class ContentBasedRoutingStrategy(GroupOrchestrationStrategy):
    """Route by the first keyword found in the input; else the first pipeline; else escalate."""

    def __init__(self, routing_rules: dict[str, list[str]]) -> None:
        self.routing_rules = routing_rules

    async def decide(
        self, pipelines: dict[str, PipelineStatus], input_data: dict[str, Any]
    ) -> GroupOrchestrationDecision:
        """Match keywords (case-insensitive) against the input's text."""
        text = str(input_data).lower()
        for keyword, targets in self.routing_rules.items():
            if keyword.lower() in text:
                present = [pid for pid in targets if pid in pipelines]
                if present:
                    return GroupOrchestrationDecision(
                        GroupDecisionType.ROUTE_TO_PIPELINE, present, reason=f"keyword_match:{keyword}"
                    )
        if pipelines:
            return GroupOrchestrationDecision(
                GroupDecisionType.ROUTE_TO_PIPELINE, [next(iter(pipelines))], reason="default_routing"
            )
        return _escalate()


class ParallelFanOutStrategy(GroupOrchestrationStrategy):
    """Send every run to every pipeline and aggregate with ``aggregation``."""

    def __init__(self, aggregation: str = "merge") -> None:
        self.aggregation = aggregation

    async def decide(
        self, pipelines: dict[str, PipelineStatus], input_data: dict[str, Any]
    ) -> GroupOrchestrationDecision:
        """Fan out to all pipelines."""
        return GroupOrchestrationDecision(
            GroupDecisionType.PARALLEL_PIPELINES, list(pipelines), aggregation_strategy=self.aggregation,
            reason="fan_out",
        )


class GroupOrchestrator:
    """Run work across a group of pipelines; statuses always return to ``idle`` or ``failed``."""

    def __init__(self, group_id: str, strategy: GroupOrchestrationStrategy | None = None) -> None:
        self.group_id = group_id
        self.strategy: GroupOrchestrationStrategy = strategy if strategy is not None else LoadBalancingStrategy()
        self._pipelines: dict[str, Any] = {}
        self._statuses: dict[str, PipelineStatus] = {}
        self._last_errors: dict[str, str] = {}
        self._clock = datetime.min

    def _now(self) -> datetime:
        """A strictly increasing timestamp, so least-recently-used order never ties."""
        now = datetime.now()
        self._clock = now if now > self._clock else self._clock + _TICK
        return self._clock

    def register_pipeline(self, pipeline: Any) -> None:
        """Add ``pipeline`` (id = ``pipeline.pipeline_id``, else ``str(id(pipeline))``) as idle."""
        pid = getattr(pipeline, "pipeline_id", None)
        pid = str(id(pipeline)) if pid is None else pid
        self._pipelines[pid] = pipeline
        self._statuses[pid] = PipelineStatus(pid, "idle", 0.0, "", 0, self._now())

    def unregister_pipeline(self, pipeline_id: str) -> None:
        """Remove a pipeline and its status; a no-op when absent."""
        self._pipelines.pop(pipeline_id, None)
        self._statuses.pop(pipeline_id, None)
        self._last_errors.pop(pipeline_id, None)

    def _mark(self, pid: str, status: str, *, failed: bool = False, progress: float | None = None) -> None:
        st = self._statuses.get(pid)
        if st is None:  # unregistered while running
            return
        st.status = status
        st.last_update = self._now()
        if progress is not None:
            st.progress = progress
        if failed:
            st.error_count += 1

    async def _run(self, pid: str, run_id: str, input_data: dict[str, Any]) -> Any:
        """Run one pipeline; the status ends ``idle`` on success or cancellation, ``failed`` on error."""
        try:
            result = await self._pipelines[pid].orchestrate(run_id, input_data)
        except asyncio.CancelledError:
            self._mark(pid, "idle")
            raise
        except Exception as exc:
            self._mark(pid, "failed", failed=True)
            if len(self._last_errors) >= MAX_REMEMBERED_ERRORS and pid not in self._last_errors:
                self._last_errors.pop(next(iter(self._last_errors)))
            self._last_errors[pid] = f"{type(exc).__name__}: {exc}"
            logger.warning("group %r: pipeline %r failed run %r: %r", self.group_id, pid, run_id, exc)
            raise
        except BaseException:
            self._mark(pid, "idle")
            raise
        self._mark(pid, "idle", progress=1.0)
        return result

    def _start(self, pid: str) -> None:
        st = self._statuses[pid]
        st.status, st.progress, st.last_update = "running", 0.0, self._now()

    async def orchestrate(self, run_id: str, input_data: dict[str, Any]) -> dict[str, Any]:
        """Route, fan out or escalate one run according to the strategy."""
        decision = await self.strategy.decide(dict(self._statuses), input_data)
        kind = decision.decision_type
        if kind == GroupDecisionType.ROUTE_TO_PIPELINE:
            pid = next((p for p in decision.target_pipelines if p in self._pipelines), None)
            if pid is None:
                return {"error": "no_pipeline_available"}
            self._start(pid)
            try:
                result: dict[str, Any] = await self._run(pid, run_id, input_data)
            except Exception as exc:
                return {"error": str(exc)}
            return result
        if kind == GroupDecisionType.PARALLEL_PIPELINES:
            pids = [p for p in dict.fromkeys(decision.target_pipelines) if p in self._pipelines]
            for pid in pids:
                self._start(pid)
            results = await asyncio.gather(
                *(self._run(pid, f"{run_id}_{pid}", input_data) for pid in pids), return_exceptions=True
            )
            out = self._aggregate_results(list(results), decision.aggregation_strategy)
            errors = {pid: str(r) for pid, r in zip(pids, results, strict=True) if isinstance(r, BaseException)}
            if errors:
                out["errors"] = errors
            return out
        return {}

    def _aggregate_results(self, results: list[Any], strategy: str) -> dict[str, Any]:
        """Combine parallel results (exceptions and non-dicts ignored): merge, first, all or vote."""
        valid = [r for r in results if isinstance(r, dict)]
        if strategy == "merge":
            merged: dict[str, Any] = {}
            for r in valid:
                merged.update(r)
            return merged
        if strategy == "first":
            return valid[0] if valid else {}
        if strategy == "all":
            return {"results": valid}
        if strategy == "vote":
            best, best_count = None, 0
            for i, r in enumerate(valid):
                if any(r == earlier for earlier in valid[:i]):
                    continue
                count = sum(1 for other in valid if other == r)
                if count > best_count:
                    best, best_count = r, count
            return best if best is not None else {}
        return {}

    def get_pipeline_statuses(self) -> dict[str, PipelineStatus]:
        """A copy of the status table."""
        return dict(self._statuses)

    def get_last_errors(self) -> dict[str, str]:
        """The last error of each pipeline that failed (``"Type: message"``), by pipeline id."""
        return dict(self._last_errors)

    def get_group_metrics(self) -> dict[str, Any]:
        """Pipeline count, plus mean completion/error rates and bottlenecks of pipelines that mine."""
        metrics: dict[str, Any] = {"total_pipelines": len(self._pipelines)}
        found = []
        for pipeline in self._pipelines.values():
            getter = getattr(pipeline, "get_process_metrics", None)
            value = getter() if callable(getter) else None
            if value is not None:
                found.append(value)
        if found:
            metrics["avg_completion_rate"] = sum(m.completion_rate for m in found) / len(found)
            metrics["avg_error_rate"] = sum(m.error_rate for m in found) / len(found)
            metrics["bottlenecks"] = list(dict.fromkeys(b for m in found for b in m.bottleneck_activities))
        return metrics
