from __future__ import annotations

import dataclasses
import math

import pytest

from llmteam.execution import ExecutionMode, ExecutionStats, ExecutorConfig, TaskResult


def test_defaults() -> None:
    cfg = ExecutorConfig()
    assert [getattr(cfg, f.name) for f in dataclasses.fields(cfg)] == [
        ExecutionMode.ADAPTIVE, 10, 100, 300.0, 3600.0, 3, 1.0, True, 0.8,
    ]
    assert [m.value for m in ExecutionMode] == ["sequential", "parallel", "adaptive"]
    r = TaskResult("id", "a", True)
    assert (r.result, r.error, r.duration_ms, r.retries) == (None, None, 0, 0)
    s = ExecutionStats()
    assert dataclasses.astuple(s) == (0, 0, 0, 0, 0.0, 0, 0, 0)


def test_positional_and_string_mode() -> None:
    cfg = ExecutorConfig(ExecutionMode.SEQUENTIAL, 3)
    assert cfg.mode is ExecutionMode.SEQUENTIAL and cfg.max_concurrent == 3
    assert ExecutorConfig(mode="parallel").mode is ExecutionMode.PARALLEL  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mode", "fastest"),
        ("max_concurrent", 0),
        ("max_concurrent", -1),
        ("max_concurrent", 2.5),
        ("max_concurrent", True),
        ("queue_size", 0),
        ("task_timeout", 0),
        ("task_timeout", -1.0),
        ("task_timeout", math.nan),
        ("total_timeout", 0),
        ("max_retries", -1),
        ("retry_delay", -0.1),
        ("backpressure_threshold", 1.5),
        ("backpressure_threshold", -0.1),
        ("task_timeout", "10"),
    ],
)
def test_invalid_values_name_field_and_value(field: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        ExecutorConfig(**{field: value})  # type: ignore[arg-type]
    assert field in str(info.value) and repr(value) in str(info.value)


def test_replace_revalidates_and_edge_values_accepted() -> None:
    cfg = ExecutorConfig(max_retries=0, retry_delay=0, backpressure_threshold=1.0, task_timeout=math.inf)
    with pytest.raises(ValueError, match="max_concurrent"):
        dataclasses.replace(cfg, max_concurrent=0)
    cfg.max_concurrent = 0  # attributes stay assignable; execute_parallel re-validates
    with pytest.raises(ValueError):
        cfg.validate()


def test_update_avg_duration() -> None:
    s = ExecutionStats()
    s.update_avg_duration()
    assert s.avg_duration_ms == 0.0
    s.completed_tasks, s.total_duration_ms = 4, 10
    s.update_avg_duration()
    assert s.avg_duration_ms == 2.5
