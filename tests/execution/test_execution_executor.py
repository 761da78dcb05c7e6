from __future__ import annotations

import asyncio
import contextvars
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.execution import ExecutionMode, ExecutorConfig, PipelineExecutor

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


class Probe:
    """Shared observer of how many agents run at once and in which order they start."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.started: list[str] = []


class Agent:
    def __init__(self, name: str, probe: Probe | None = None, delay: float = 0.0, fail: str | None = None,
                 value: Any = None) -> None:
        self.name = name
        self.probe = probe or Probe()
        self.delay, self.fail, self.value = delay, fail, value
        self.calls = 0
        self.cancelled = False

    async def process(self, data: dict) -> Any:
        self.calls += 1
        p = self.probe
        p.running += 1
        p.peak = max(p.peak, p.running)
        p.started.append(self.name)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            else:
                await asyncio.sleep(0)
            if self.fail is not None:
                raise RuntimeError(self.fail)
            return self.value if self.value is not None else {"agent": self.name, **data}
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            p.running -= 1


def cfg(**kw: Any) -> ExecutorConfig:
    kw.setdefault("mode", ExecutionMode.PARALLEL)
    return ExecutorConfig(**kw)


async def test_empty_list_changes_nothing() -> None:
    ex = PipelineExecutor()
    assert ex.config == ExecutorConfig()
    assert await ex.execute_parallel([], {"x": 1}) == []
    assert ex.get_stats() == PipelineExecutor().get_stats()


async def test_results_in_input_order_each_agent_once() -> None:
    probe = Probe()
    agents = [Agent(f"a{i}", probe, delay=0.001 * (5 - i)) for i in range(5)]
    results = await PipelineExecutor(cfg()).execute_parallel(agents, {"q": 1})
    assert [r.agent_name for r in results] == [f"a{i}" for i in range(5)]
    assert all(r.success and r.result == {"agent": r.agent_name, "q": 1} for r in results)
    assert all(a.calls == 1 for a in agents)
    ids = [r.task_id for r in results]
    assert len(set(ids)) == 5 and all(uuid.UUID(i).version == 4 for i in ids)


async def test_failure_does_not_break_others_and_records_duration() -> None:
    agents = [Agent("ok1"), Agent("bad", delay=0.03, fail="boom"), Agent("ok2")]
    results = await PipelineExecutor(cfg(max_retries=3)).execute_parallel(agents, {})
    assert [r.success for r in results] == [True, False, True]
    bad = results[1]
    assert bad.error == "boom" and bad.result is None and bad.duration_ms >= 20 and bad.retries == 0
    assert agents[1].calls == 1  # no automatic retries


async def test_task_timeout() -> None:
    slow, fast = Agent("slow", delay=5), Agent("fast")
    results = await PipelineExecutor(cfg(task_timeout=0.05)).execute_parallel([slow, fast], {})
    assert (results[0].success, results[0].error) == (False, "timeout") and results[0].duration_ms >= 40
    assert results[1].success and slow.cancelled


async def test_total_timeout_cancels_running_and_pending() -> None:
    probe = Probe()
    agents = [Agent("quick", probe), Agent("slow1", probe, delay=5), Agent("slow2", probe, delay=5),
              Agent("never", probe, delay=5)]
    ex = PipelineExecutor(cfg(max_concurrent=2, total_timeout=0.5))
    results = await ex.execute_parallel(agents, {})  # the errors and cancellations below prove the timeout fired
    assert results[0].success
    assert [r.error for r in results[1:]] == ["total_timeout"] * 3
    assert results[1].duration_ms >= 80 and results[3].duration_ms == 0
    assert agents[1].cancelled and agents[2].cancelled and agents[3].calls == 0
    stats = ex.get_stats()
    assert (stats.total_tasks, stats.completed_tasks, stats.failed_tasks) == (4, 1, 3)
    assert ex.get_stats().current_running == 0


async def test_agent_swallowing_cancellation_still_reported_as_timeout() -> None:
    class Stubborn:
        name = "stubborn"

        async def process(self, data: dict) -> str:
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                await asyncio.sleep(0.05)
                return "ignored the cancel"
            return "done"

    ex = PipelineExecutor(cfg(task_timeout=0.02))
    results = await ex.execute_parallel([Stubborn()], {})
    assert results[0].error == "timeout" and not results[0].success
    assert ex.get_stats().current_running == 0 and ex.get_stats().total_tasks == 1


async def test_sequential_is_really_sequential() -> None:
    probe = Probe()
    agents = [Agent(f"s{i}", probe, delay=0.002) for i in range(6)]
    ex = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.SEQUENTIAL, max_concurrent=10))
    results = await ex.execute_parallel(agents, {})
    assert probe.peak == 1 and probe.started == [f"s{i}" for i in range(6)]
    assert all(r.success for r in results)


@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_max_concurrent_is_honoured(limit: int) -> None:
    probe = Probe()
    agents = [Agent(f"c{i}", probe, delay=0.005) for i in range(12)]
    await PipelineExecutor(cfg(max_concurrent=limit)).execute_parallel(agents, {})
    assert probe.peak == limit


async def test_limit_is_shared_by_concurrent_calls() -> None:
    probe = Probe()
    ex = PipelineExecutor(cfg(max_concurrent=3))
    batches = [[Agent(f"b{b}-{i}", probe, delay=0.005) for i in range(4)] for b in range(3)]
    out = await asyncio.gather(*(ex.execute_parallel(batch, {}) for batch in batches))
    assert probe.peak == 3 and all(len(r) == 4 and all(x.success for x in r) for r in out)


async def test_backpressure_and_running_counters() -> None:
    gate = asyncio.Event()

    class Blocked:
        name = "blocked"

        async def process(self, data: dict) -> int:
            await gate.wait()
            return 1

    ex = PipelineExecutor(cfg(max_concurrent=1, queue_size=4, backpressure_threshold=0.5))
    assert not ex.is_backpressure()
    task = asyncio.create_task(ex.execute_parallel([Blocked() for _ in range(4)], {}))
    await asyncio.sleep(0.01)
    stats = ex.get_stats()
    assert (stats.current_running, stats.current_queue_size) == (1, 3)
    assert ex.is_backpressure() and stats.backpressure_events == 1
    ex.config.enable_backpressure = False
    assert not ex.is_backpressure()
    ex.config.enable_backpressure = True
    gate.set()
    results = await task
    assert all(r.success for r in results)
    assert not ex.is_backpressure()
    stats = ex.get_stats()
    assert (stats.current_running, stats.current_queue_size, stats.completed_tasks) == (0, 0, 4)


async def test_below_threshold_is_not_backpressure() -> None:
    gate = asyncio.Event()

    class Blocked:
        async def process(self, data: dict) -> None:
            await gate.wait()

    ex = PipelineExecutor(cfg(max_concurrent=1, queue_size=10, backpressure_threshold=0.5))
    task = asyncio.create_task(ex.execute_parallel([Blocked() for _ in range(5)], {}))
    await asyncio.sleep(0.01)
    assert not ex.is_backpressure()  # 4 pending / 10 < 0.5
    gate.set()
    results = await task
    assert [r.agent_name for r in results] == ["unknown"] * 5 and ex.get_stats().backpressure_events == 0


async def test_stats_snapshot_and_reset() -> None:
    ex = PipelineExecutor(cfg())
    await ex.execute_parallel([Agent("a", delay=0.01), Agent("b", fail="x")], {})
    snap = ex.get_stats()
    assert (snap.total_tasks, snap.completed_tasks, snap.failed_tasks) == (2, 1, 1)
    assert snap.total_duration_ms >= 5 and snap.avg_duration_ms == snap.total_duration_ms
    snap.total_tasks = 99
    assert ex.get_stats().total_tasks == 2
    ex.reset_stats()
    assert ex.get_stats().total_tasks == 0


async def test_type_error_before_anything_runs() -> None:
    first = Agent("first")
    with pytest.raises(TypeError, match=r"agents\[1\]"):
        await PipelineExecutor().execute_parallel([first, object()], {})
    assert first.calls == 0


async def test_sync_process_is_reported_as_that_agents_failure() -> None:
    class Sync:
        name = "sync"

        def process(self, data: dict) -> int:
            return 1

    class LambdaCoroutine:  # a plain function returning an awaitable is fine
        name = "wrapped"

        def __init__(self) -> None:
            self.process = lambda data: asyncio.sleep(0, result="ok")

    results = await PipelineExecutor().execute_parallel([Sync(), LambdaCoroutine(), Agent("ok")], {})
    assert not results[0].success and "not an awaitable" in (results[0].error or "")
    assert results[1].result == "ok" and results[2].success


async def test_agent_raising_cancelled_error_does_not_hang_the_batch() -> None:
    class SelfCancel:
        name = "selfcancel"

        async def process(self, data: dict) -> None:
            raise asyncio.CancelledError

    results = await PipelineExecutor().execute_parallel([SelfCancel(), Agent("ok")], {})
    assert (results[0].success, results[0].error) == (False, "cancelled") and results[1].success


async def test_caller_cancellation_cancels_agents_and_leaves_executor_usable() -> None:
    slow = [Agent(f"slow{i}", delay=5) for i in range(3)]
    ex = PipelineExecutor(cfg(max_concurrent=2))
    task = asyncio.create_task(ex.execute_parallel(slow, {}))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)
    assert slow[0].cancelled and slow[1].cancelled and slow[2].calls == 0
    stats = ex.get_stats()
    assert (stats.current_running, stats.current_queue_size) == (0, 0)
    assert (await ex.execute_parallel([Agent("after")], {}))[0].success


async def test_context_flows_in_but_not_between_agents() -> None:
    seen: list[str] = []

    class Ctx:
        async def process(self, data: dict) -> None:
            seen.append(VAR.get())
            VAR.set("changed-by-agent")

    VAR.set("caller")
    await PipelineExecutor(ExecutorConfig(mode=ExecutionMode.SEQUENTIAL)).execute_parallel([Ctx(), Ctx()], {})
    assert seen == ["caller", "caller"] and VAR.get() == "caller"


async def test_config_changes_apply_to_next_call() -> None:
    ex = PipelineExecutor(cfg())
    ex.config.max_concurrent = 0
    with pytest.raises(ValueError, match="max_concurrent"):
        await ex.execute_parallel([Agent("a")], {})
    with pytest.raises(TypeError):
        PipelineExecutor({"mode": "parallel"})  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    outcomes=st.lists(st.sampled_from(["ok", "fail", "yield"]), max_size=25),
    limit=st.integers(1, 6),
    sequential=st.booleans(),
)
def test_property_every_agent_once_in_order(outcomes: list[str], limit: int, sequential: bool) -> None:
    async def scenario() -> None:
        probe = Probe()
        agents = [Agent(f"p{i}", probe, fail="e" if o == "fail" else None) for i, o in enumerate(outcomes)]
        mode = ExecutionMode.SEQUENTIAL if sequential else ExecutionMode.PARALLEL
        ex = PipelineExecutor(ExecutorConfig(mode=mode, max_concurrent=limit))
        results = await ex.execute_parallel(agents, {})
        assert [r.agent_name for r in results] == [a.name for a in agents]
        assert all(a.calls == 1 for a in agents)
        assert [r.success for r in results] == [o != "fail" for o in outcomes]
        assert probe.peak <= (1 if sequential else limit)
        stats = ex.get_stats()
        assert stats.total_tasks == len(outcomes) and stats.failed_tasks == outcomes.count("fail")
        assert stats.completed_tasks + stats.failed_tasks == stats.total_tasks
        assert (stats.current_running, stats.current_queue_size) == (0, 0)

    asyncio.run(scenario())


class _AgentBug(BaseException):
    """Neither Exception nor CancelledError: gevent's GreenletExit, pytest's outcome exceptions."""


class _Raises:
    def __init__(self, name: str, exc: BaseException) -> None:
        self.name, self.exc = name, exc

    async def process(self, data: dict) -> Any:
        raise self.exc


async def test_an_agent_raising_a_base_exception_fails_alone_and_at_once() -> None:
    executor = PipelineExecutor(cfg(total_timeout=600))
    done = await asyncio.wait_for(executor.execute_parallel(
        [_Raises("a", _AgentBug("agent bug")), Agent("b", value="fine")], {}), 60)  # not the total timeout
    assert [(r.agent_name, r.success, r.error) for r in done] == [("a", False, "_AgentBug: agent bug"),
                                                                   ("b", True, None)]


def test_an_agents_exit_still_ends_the_program() -> None:
    executor = PipelineExecutor(cfg(total_timeout=600))
    with pytest.raises(SystemExit):  # asyncio ends the loop with it, as for Ctrl-C; the job is finished first
        asyncio.run(executor.execute_parallel([_Raises("c", SystemExit(3))], {}))
