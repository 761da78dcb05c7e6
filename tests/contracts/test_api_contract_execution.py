"""Acceptance tests for API contract §2 (llmteam.execution), written from the contract text only."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import uuid
from typing import Any

import pytest

import llmteam.execution as ex
from llmteam.execution import ExecutionMode, ExecutionStats, ExecutorConfig, PipelineExecutor, TaskResult


class Agent:
    def __init__(self, name: str, delay: float = 0.0, result: Any = "ok", error: Exception | None = None) -> None:
        self.name = name
        self.delay = delay
        self.result = result
        self.error = error
        self.calls = 0
        self.inputs: list[Any] = []

    async def process(self, input_data: dict[str, Any]) -> Any:
        self.calls += 1
        self.inputs.append(input_data)
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.result


class Nameless:
    async def process(self, input_data: dict[str, Any]) -> Any:
        return input_data["x"]


def test_exports() -> None:
    assert {"ExecutionMode", "ExecutorConfig", "TaskResult", "ExecutionStats", "PipelineExecutor"} <= set(ex.__all__)


def test_import_is_light() -> None:
    code = (
        "import sys, llmteam.execution\n"
        "bad = [m for m in ('cryptography', 'asyncpg', 'redis', 'httpx') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_execution_mode_values() -> None:
    assert [(m.name, m.value) for m in ExecutionMode] == [
        ("SEQUENTIAL", "sequential"), ("PARALLEL", "parallel"), ("ADAPTIVE", "adaptive")]


def test_executor_config_fields_defaults_positional() -> None:
    assert [f.name for f in dataclasses.fields(ExecutorConfig)] == [
        "mode", "max_concurrent", "queue_size", "task_timeout", "total_timeout", "max_retries", "retry_delay",
        "enable_backpressure", "backpressure_threshold"]
    c = ExecutorConfig()
    assert c.mode is ExecutionMode.ADAPTIVE
    assert (c.max_concurrent, c.queue_size, c.task_timeout, c.total_timeout, c.max_retries, c.retry_delay,
            c.enable_backpressure, c.backpressure_threshold) == (10, 100, 300.0, 3600.0, 3, 1.0, True, 0.8)
    p = ExecutorConfig(ExecutionMode.SEQUENTIAL, 4, 20, 1.5, 9.0, 0, 0.0, False, 0.5)
    assert p.mode is ExecutionMode.SEQUENTIAL and p.max_concurrent == 4 and p.backpressure_threshold == 0.5
    p.max_concurrent = 6
    assert p.max_concurrent == 6
    assert ExecutorConfig(task_timeout=5) == ExecutorConfig(task_timeout=5.0)


def test_task_result_fields() -> None:
    assert [f.name for f in dataclasses.fields(TaskResult)] == [
        "task_id", "agent_name", "success", "result", "error", "duration_ms", "retries"]
    r = TaskResult("t", "a", True)
    assert (r.result, r.error, r.duration_ms, r.retries) == (None, None, 0, 0)
    r2 = TaskResult("t", "a", False, None, "boom", 12, 1)
    assert r2.error == "boom" and r2.duration_ms == 12 and r2.retries == 1


def test_execution_stats_fields_and_avg() -> None:
    assert [f.name for f in dataclasses.fields(ExecutionStats)] == [
        "total_tasks", "completed_tasks", "failed_tasks", "total_duration_ms", "avg_duration_ms",
        "current_queue_size", "current_running", "backpressure_events"]
    s = ExecutionStats()
    assert (s.total_tasks, s.completed_tasks, s.failed_tasks, s.total_duration_ms, s.avg_duration_ms,
            s.current_queue_size, s.current_running, s.backpressure_events) == (0, 0, 0, 0, 0.0, 0, 0, 0)
    s.update_avg_duration()
    assert s.avg_duration_ms == 0.0
    s = ExecutionStats(total_tasks=3, completed_tasks=3, total_duration_ms=100)
    s.update_avg_duration()
    assert s.avg_duration_ms == pytest.approx(100 / 3)


def test_executor_construction() -> None:
    assert PipelineExecutor().config == ExecutorConfig()
    cfg = ExecutorConfig(max_concurrent=3)
    assert PipelineExecutor(cfg).config is cfg
    assert PipelineExecutor(config=None).config == ExecutorConfig()  # no running loop needed


async def test_results_in_input_order_each_agent_once() -> None:
    agents = [Agent("slow", 0.05, 1), Agent("fast", 0.0, 2), Agent("mid", 0.02, 3)]
    data = {"q": 1}
    results = await PipelineExecutor().execute_parallel(agents, data)
    assert [r.agent_name for r in results] == ["slow", "fast", "mid"]
    assert [r.result for r in results] == [1, 2, 3]
    assert all(r.success and r.error is None for r in results)
    assert all(a.calls == 1 and a.inputs == [data] for a in agents)
    assert all(isinstance(r.duration_ms, int) for r in results)
    assert results[0].duration_ms >= 40
    ids = [r.task_id for r in results]
    assert len(set(ids)) == 3
    for tid in ids:
        assert uuid.UUID(tid).version == 4 and str(uuid.UUID(tid)) == tid


async def test_unnamed_agent_is_unknown() -> None:
    [r] = await PipelineExecutor().execute_parallel([Nameless()], {"x": 42})
    assert r.agent_name == "unknown" and r.result == 42 and r.success


async def test_empty_agent_list() -> None:
    ex_ = PipelineExecutor()
    assert await ex_.execute_parallel([], {}) == []
    assert ex_.get_stats() == ExecutionStats()


async def test_exception_and_no_retry() -> None:
    boom = Agent("bad", 0.01, error=ValueError("kaput"))
    ok = Agent("good")
    ex_ = PipelineExecutor(ExecutorConfig(max_retries=5, retry_delay=0.0))
    bad_r, good_r = await ex_.execute_parallel([boom, ok], {})
    assert boom.calls == 1  # no automatic retries
    assert bad_r.success is False and bad_r.error == "kaput" and bad_r.result is None
    assert bad_r.duration_ms >= 5  # failures record duration too
    assert bad_r.retries == 0
    assert good_r.success and good_r.result == "ok"


async def test_task_timeout() -> None:
    slow = Agent("slow", 5.0)
    fast = Agent("fast", 0.0)
    ex_ = PipelineExecutor(ExecutorConfig(task_timeout=0.1))
    r_slow, r_fast = await asyncio.wait_for(ex_.execute_parallel([slow, fast], {}), 3)
    assert r_slow.success is False and r_slow.error == "timeout"
    assert r_slow.duration_ms >= 80
    assert r_fast.success
    st = ex_.get_stats()
    assert (st.total_tasks, st.completed_tasks, st.failed_tasks) == (2, 1, 1)


async def test_total_timeout_cancels_unfinished() -> None:
    cancelled: list[str] = []

    class Sleeper(Agent):
        async def process(self, input_data: dict[str, Any]) -> Any:
            try:
                return await super().process(input_data)
            except asyncio.CancelledError:
                cancelled.append(self.name)
                raise

    agents = [Sleeper("quick", 0.0), Sleeper("long1", 5.0), Sleeper("long2", 5.0)]
    ex_ = PipelineExecutor(ExecutorConfig(task_timeout=60, total_timeout=0.2))
    results = await asyncio.wait_for(ex_.execute_parallel(agents, {}), 3)
    assert results[0].success
    assert [(r.success, r.error) for r in results[1:]] == [(False, "total_timeout")] * 2
    assert sorted(cancelled) == ["long1", "long2"]
    st = ex_.get_stats()
    assert st.failed_tasks == 2 and st.completed_tasks == 1 and st.current_running == 0


async def test_total_timeout_reports_never_started_agents() -> None:
    agents = [Agent(f"a{i}", 5.0) for i in range(3)]
    ex_ = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.SEQUENTIAL, task_timeout=60, total_timeout=0.15))
    results = await asyncio.wait_for(ex_.execute_parallel(agents, {}), 3)
    assert [r.error for r in results] == ["total_timeout"] * 3
    assert [a.calls for a in agents] == [1, 0, 0]


async def _peak(config: ExecutorConfig, n: int) -> int:
    running = 0
    peak = 0

    class Probe:
        def __init__(self, i: int) -> None:
            self.name = f"p{i}"

        async def process(self, input_data: dict[str, Any]) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            return 1

    results = await PipelineExecutor(config).execute_parallel([Probe(i) for i in range(n)], {})
    assert all(r.success for r in results)
    return peak


async def test_max_concurrent_honoured() -> None:
    assert await _peak(ExecutorConfig(mode=ExecutionMode.PARALLEL, max_concurrent=3), 10) == 3
    assert await _peak(ExecutorConfig(mode=ExecutionMode.ADAPTIVE, max_concurrent=4), 10) == 4


async def test_sequential_mode_runs_one_at_a_time() -> None:
    assert await _peak(ExecutorConfig(mode=ExecutionMode.SEQUENTIAL, max_concurrent=10), 5) == 1


async def test_stats_accumulate_and_reset() -> None:
    ex_ = PipelineExecutor()
    await ex_.execute_parallel([Agent("a", 0.02), Agent("b", error=RuntimeError("x"))], {})
    await ex_.execute_parallel([Agent("c", 0.01)], {})
    st = ex_.get_stats()
    assert isinstance(st, ExecutionStats)
    assert (st.total_tasks, st.completed_tasks, st.failed_tasks) == (3, 2, 1)
    assert st.total_duration_ms >= 25
    assert st.avg_duration_ms == pytest.approx(st.total_duration_ms / 2)
    assert st.current_running == 0
    ex_.reset_stats()
    assert ex_.get_stats() == ExecutionStats()


async def test_current_running_tracks_agents_in_flight() -> None:
    ex_ = PipelineExecutor(ExecutorConfig(max_concurrent=2))
    gate = asyncio.Event()

    class Waiter:
        name = "w"

        async def process(self, input_data: dict[str, Any]) -> None:
            await gate.wait()

    task = asyncio.create_task(ex_.execute_parallel([Waiter(), Waiter(), Waiter()], {}))
    for _ in range(5):
        await asyncio.sleep(0)
    assert ex_.get_stats().current_running == 2
    gate.set()
    await task
    assert ex_.get_stats().current_running == 0


async def test_backpressure() -> None:
    assert PipelineExecutor().is_backpressure() is False  # idle
    gate = asyncio.Event()

    class Waiter:
        name = "w"

        async def process(self, input_data: dict[str, Any]) -> None:
            await gate.wait()

    cfg = ExecutorConfig(max_concurrent=1, queue_size=10, backpressure_threshold=0.5)
    ex_ = PipelineExecutor(cfg)
    task = asyncio.create_task(ex_.execute_parallel([Waiter() for _ in range(7)], {}))
    for _ in range(5):
        await asyncio.sleep(0)
    assert ex_.is_backpressure() is True  # 6 pending / 10 >= 0.5
    cfg.enable_backpressure = False
    assert ex_.is_backpressure() is False
    cfg.enable_backpressure = True
    gate.set()
    await task
    assert ex_.is_backpressure() is False


async def test_below_threshold_no_backpressure() -> None:
    gate = asyncio.Event()

    class Waiter:
        name = "w"

        async def process(self, input_data: dict[str, Any]) -> None:
            await gate.wait()

    ex_ = PipelineExecutor(ExecutorConfig(max_concurrent=1, queue_size=10, backpressure_threshold=0.5))
    task = asyncio.create_task(ex_.execute_parallel([Waiter() for _ in range(5)], {}))
    for _ in range(5):
        await asyncio.sleep(0)
    assert ex_.is_backpressure() is False  # 4 pending / 10 < 0.5
    gate.set()
    await task


async def test_concurrent_calls_share_limit() -> None:
    ex_ = PipelineExecutor(ExecutorConfig(max_concurrent=2))
    running = 0
    peak = 0

    class Probe:
        name = "p"

        async def process(self, input_data: dict[str, Any]) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.005)
            running -= 1
            return int(input_data["i"])

    outs = await asyncio.gather(*(ex_.execute_parallel([Probe(), Probe()], {"i": i}) for i in range(5)))
    assert [[r.result for r in o] for o in outs] == [[i, i] for i in range(5)]
    assert peak <= 2
    assert ex_.get_stats().total_tasks == 10


async def test_executors_share_no_state() -> None:
    e1, e2 = PipelineExecutor(), PipelineExecutor()
    await e1.execute_parallel([Agent("a")], {})
    assert e2.get_stats() == ExecutionStats()
    e1.config.max_concurrent = 1
    assert e2.config.max_concurrent == 10
