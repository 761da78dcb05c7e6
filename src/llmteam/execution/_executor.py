"""``PipelineExecutor``: each agent once, at most ``max_concurrent`` at a time, per-agent and total timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections import deque
from time import perf_counter
from typing import Any

from llmteam.execution._deadlines import DeadlineQueue, uuid4_strings
from llmteam.execution._jobs import Batch, Job, prepare_agents
from llmteam.execution._models import ExecutionMode, ExecutionStats, ExecutorConfig, TaskResult

logger = logging.getLogger(__name__)

CANCEL_GRACE = 1.0
"""Seconds execute_parallel waits, after a timeout, for cancelled agents to finish unwinding before it returns."""


class PipelineExecutor:
    """Runs agents concurrently under the limits of an ExecutorConfig; agent failures become failed TaskResults.

    Concurrency, the pending queue and the statistics are per executor and shared by concurrent
    ``execute_parallel`` calls on it. Use one executor per event loop; it is not thread-safe.
    """

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        if config is not None and not isinstance(config, ExecutorConfig):
            raise TypeError(f"config must be an ExecutorConfig or None, got {config!r}")
        self.config = config if config is not None else ExecutorConfig()
        self._stats = ExecutionStats()
        self._pending: deque[Job] = deque()
        self._running = 0
        self._deadlines = DeadlineQueue(self._timeout_job)

    # -- public API ----------------------------------------------------------------------------------------
    async def execute_parallel(self, agents: list[Any], input_data: dict[str, Any]) -> list[TaskResult]:
        """Run ``await agent.process(input_data)`` once per agent; one TaskResult per agent, in input order.

        Raises TypeError before running anything if an agent has no callable ``process``; never raises
        for an agent's own failure, timeout or the total timeout.
        """
        specs = prepare_agents(agents)
        if not specs:
            return []
        config = self.config
        config.validate()
        loop = asyncio.get_running_loop()
        batch = Batch(loop, input_data, len(specs))
        batch.jobs = [Job(batch, index, name, process) for index, (name, process) in enumerate(specs)]
        batch.task_ids = uuid4_strings(len(specs))
        self._pending.extend(batch.jobs)
        batch.timer = loop.call_at(loop.time() + config.total_timeout, self._expire_batch, batch)
        self._pump()
        if self.is_backpressure():  # one event per admission that leaves the queue at/over the threshold
            self._stats.backpressure_events += 1
            logger.debug("backpressure: %d agents pending, queue_size %d", len(self._pending), config.queue_size)
        try:
            await batch.done
        except asyncio.CancelledError:
            self._abandon(batch)
            raise
        finally:
            batch.timer.cancel()
        unwinding = [job.task for job in batch.jobs if job.task is not None and not job.task.done()]
        if unwinding:  # agents cancelled by a timeout: let them unwind (bounded) before reporting
            await asyncio.wait(unwinding, timeout=CANCEL_GRACE)
        return batch.results  # type: ignore[return-value]  # every slot is filled once done is set

    def get_stats(self) -> ExecutionStats:
        """A snapshot of the cumulative statistics."""
        self._stats.current_queue_size = len(self._pending)
        self._stats.current_running = self._running
        return dataclasses.replace(self._stats)

    def reset_stats(self) -> None:
        """Start the statistics afresh."""
        self._stats = ExecutionStats()
        self._stats.current_queue_size = len(self._pending)
        self._stats.current_running = self._running

    def is_backpressure(self) -> bool:
        """True if backpressure is enabled and pending (admitted, not started) / queue_size >= threshold."""
        config = self.config
        pending = len(self._pending)
        if not config.enable_backpressure or pending == 0:
            return False
        return pending / config.queue_size >= config.backpressure_threshold

    # -- scheduling ----------------------------------------------------------------------------------------
    def _limit(self) -> int:
        config = self.config
        return 1 if config.mode is ExecutionMode.SEQUENTIAL else config.max_concurrent

    def _pump(self) -> None:
        pending = self._pending
        if pending:
            limit = self._limit()
            while self._running < limit and pending:
                self._start(pending.popleft())
        self._stats.current_queue_size = len(pending)
        self._stats.current_running = self._running

    def _start(self, job: Job) -> None:
        batch = job.batch
        loop = batch.loop
        self._running += 1
        job.started = perf_counter()
        job.task = batch.context.run(loop.create_task, self._run(job))
        self._deadlines.add(loop, loop.time() + self.config.task_timeout, job)

    async def _run(self, job: Job) -> None:
        job.entered = True
        try:
            awaitable = job.process(job.batch.input_data)
            if not inspect.isawaitable(awaitable):
                raise TypeError(
                    f"{job.name}.process() returned {type(awaitable).__name__}, not an awaitable; "
                    "define it with 'async def'"
                )
            result = await awaitable
        except asyncio.CancelledError:
            if not job.finished:  # the agent raised it itself, or the task was cancelled from outside
                self._finish(job, False, None, "cancelled")
                raise
        except Exception as exc:
            self._finish(job, False, None, str(exc))
        except BaseException as exc:  # not an Exception: still this agent's failure, reported now, not at the timeout
            self._finish(job, False, None, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise  # an exit or Ctrl-C still ends the program
        else:
            self._finish(job, True, result, None)
        finally:
            self._release(job)

    def _cancel(self, job: Job) -> None:
        """Cancel a started job's task; a task that never got to run releases its slot here."""
        task = job.task
        if task is not None and not task.done():
            task.cancel()
            if not job.entered:
                self._release(job)

    def _release(self, job: Job) -> None:
        """Free the job's concurrency slot (once) and start pending agents."""
        if job.released:
            return
        job.released = True
        self._running -= 1
        self._pump()

    def _finish(self, job: Job, success: bool, result: Any, error: str | None) -> None:
        if job.finished:
            return
        job.finished = True
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        duration_ms = int((perf_counter() - job.started) * 1000) if job.started else 0
        self._deadlines.prune()
        stats = self._stats
        stats.total_tasks += 1
        if success:
            stats.completed_tasks += 1
            stats.total_duration_ms += duration_ms
            stats.update_avg_duration()
        else:
            stats.failed_tasks += 1
        batch = job.batch
        batch.results[job.index] = TaskResult(batch.task_ids[job.index], job.name, success, result, error, duration_ms)
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.done.done():
            batch.done.set_result(None)

    # -- timeouts and cancellation -------------------------------------------------------------------------
    def _timeout_job(self, job: Job) -> None:
        if job.finished:
            return
        self._finish(job, False, None, "timeout")
        self._cancel(job)

    def _drop_pending(self, batch: Batch) -> None:
        self._pending = deque(job for job in self._pending if job.batch is not batch)
        self._stats.current_queue_size = len(self._pending)

    def _expire_batch(self, batch: Batch) -> None:
        batch.expired = True
        self._drop_pending(batch)
        for job in batch.jobs:
            if not job.finished:
                self._finish(job, False, None, "total_timeout")
                self._cancel(job)

    def _abandon(self, batch: Batch) -> None:
        """The caller was cancelled: drop the batch's pending agents and cancel its running ones (no results)."""
        self._drop_pending(batch)
        for job in batch.jobs:
            if not job.finished:
                job.finished = True
                if job.timer is not None:
                    job.timer.cancel()
                self._cancel(job)
