"""Execution modes, executor configuration, per-agent results and cumulative statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ExecutionMode(Enum):
    """How agents are scheduled: one at a time, or up to ``max_concurrent`` at once."""

    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    ADAPTIVE = "adaptive"


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"ExecutorConfig.{name} must be an int >= {minimum}, got {value!r}")


def _check_float(name: str, value: object, *, positive: bool, maximum: float = math.inf) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = (number > 0 if positive else number >= 0) and number <= maximum
    if not ok:
        bound = "> 0" if positive else ">= 0"
        upper = f" and <= {maximum}" if maximum != math.inf else ""
        raise ValueError(f"ExecutorConfig.{name} must be a number {bound}{upper}, got {value!r}")


@dataclass
class ExecutorConfig:
    """Scheduling limits for a PipelineExecutor; values are validated at construction (ValueError names the field)."""

    mode: ExecutionMode = ExecutionMode.ADAPTIVE
    max_concurrent: int = 10
    queue_size: int = 100
    task_timeout: float = 300.0
    total_timeout: float = 3600.0
    max_retries: int = 3
    retry_delay: float = 1.0
    enable_backpressure: bool = True
    backpressure_threshold: float = 0.8

    def __post_init__(self) -> None:
        if isinstance(self.mode, str) and not isinstance(self.mode, ExecutionMode):
            try:
                self.mode = ExecutionMode(self.mode)
            except ValueError:
                pass
        self.validate()

    def validate(self) -> None:
        """Raise ValueError (naming the field and value) if any field is out of range."""
        if not isinstance(self.mode, ExecutionMode):
            choices = ", ".join(m.value for m in ExecutionMode)
            raise ValueError(f"ExecutorConfig.mode must be an ExecutionMode ({choices}), got {self.mode!r}")
        _check_int("max_concurrent", self.max_concurrent, 1)
        _check_int("queue_size", self.queue_size, 1)
        _check_float("task_timeout", self.task_timeout, positive=True)
        _check_float("total_timeout", self.total_timeout, positive=True)
        _check_int("max_retries", self.max_retries, 0)
        _check_float("retry_delay", self.retry_delay, positive=False)
        _check_float("backpressure_threshold", self.backpressure_threshold, positive=False, maximum=1.0)


@dataclass
class TaskResult:
    """Outcome of one agent run (``error`` is ``"timeout"``/``"total_timeout"`` or the exception text)."""

    task_id: str
    agent_name: str
    success: bool
    result: Any = None
    error: str | None = None
    duration_ms: int = 0
    retries: int = 0


@dataclass
class ExecutionStats:
    """Cumulative counters of a PipelineExecutor."""

    total_tasks: int = 0
    completed_tasks: int = 0
    failed_tasks: int = 0
    total_duration_ms: int = 0
    avg_duration_ms: float = 0.0
    current_queue_size: int = 0
    current_running: int = 0
    backpressure_events: int = 0

    def update_avg_duration(self) -> None:
        """Recompute ``avg_duration_ms`` over successful tasks."""
        if self.completed_tasks > 0:
            self.avg_duration_ms = self.total_duration_ms / self.completed_tasks
