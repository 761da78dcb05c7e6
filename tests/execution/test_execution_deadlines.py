from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from llmteam.execution import ExecutionMode, ExecutorConfig, PipelineExecutor, _executor
from llmteam.execution._deadlines import uuid4_strings


class Sleeper:
    def __init__(self, name: str, delay: float) -> None:
        self.name, self.delay = name, delay

    async def process(self, data: dict) -> str:
        await asyncio.sleep(self.delay)
        return self.name


def test_uuid4_strings() -> None:
    ids = uuid4_strings(500)
    assert len(set(ids)) == 500
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and str(parsed) == text
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", text)
    assert uuid4_strings(0) == []


async def test_staggered_deadlines_expire_only_the_slow_ones() -> None:
    agents = [Sleeper(f"a{i}", 0.2 if i % 3 == 0 else 0.001 * i) for i in range(12)]
    ex = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.PARALLEL, max_concurrent=4, task_timeout=0.05))
    results = await ex.execute_parallel(agents, {})
    assert [r.error for r in results] == ["timeout" if i % 3 == 0 else None for i in range(12)]


async def test_lowered_timeout_while_running_still_applies() -> None:
    ex = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.PARALLEL, task_timeout=0.3))
    first = asyncio.create_task(ex.execute_parallel([Sleeper("long", 0.25)], {}))
    await asyncio.sleep(0.01)
    ex.config.task_timeout = 0.02  # a later deadline than nothing: this job gets its own timer
    second = await ex.execute_parallel([Sleeper("short", 1.0)], {})
    assert second[0].error == "timeout"
    assert (await first)[0].success


async def test_finished_jobs_behind_a_long_one_are_compacted() -> None:
    ex = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.PARALLEL, max_concurrent=2, task_timeout=5))
    gate = asyncio.Event()

    class Held:
        name = "held"

        async def process(self, data: dict) -> None:
            await gate.wait()

    held = asyncio.create_task(ex.execute_parallel([Held()], {}))
    await asyncio.sleep(0)
    for _ in range(5):
        await ex.execute_parallel([Sleeper("f", 0) for _ in range(400)], {})
    assert len(ex._deadlines._items) <= 1024
    gate.set()
    await held
    assert len(ex._deadlines._items) == 0 and ex._deadlines._timer is None


def test_executor_reused_across_event_loops() -> None:
    ex = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.PARALLEL, task_timeout=0.05))
    for _ in range(2):
        results = asyncio.run(ex.execute_parallel([Sleeper("slow", 1), Sleeper("fast", 0)], {}))
        assert [r.error for r in results] == ["timeout", None]


async def test_agent_ignoring_cancellation_is_abandoned_after_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_executor, "CANCEL_GRACE", 0.05)
    release = asyncio.Event()

    class Deaf:
        name = "deaf"

        async def process(self, data: dict) -> None:
            while not release.is_set():
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    continue

    ex = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.PARALLEL, task_timeout=0.02))
    results = await asyncio.wait_for(ex.execute_parallel([Deaf()], {}), 2)
    assert results[0].error == "timeout"
    assert ex.get_stats().current_running == 1  # truthful: it still runs and holds its slot
    release.set()
    await asyncio.sleep(0.01)
    assert ex.get_stats().current_running == 0
