"""A worker process: serve teams' durable runs from the queues until told to stop (``llmteam worker``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

from llmteam.durable._engine import ENGINE, QUEUE_PREFIX
from llmteam.durable._runtime import DurableRuntime
from llmteam.team import Team


async def serve(teams: Sequence[Team], url: str, stop: asyncio.Event, *, system_db: str | None = None,
                executor_id: str = "local", concurrency: int | None = None,
                adopt: Sequence[str] = (), ready: Callable[[], None] | None = None, **options: Any) -> None:
    """Execute queued runs of ``teams`` in this process until ``stop`` is set; then leave them to the queues.

    ``executor_id`` names this worker: DBOS resumes, at start, the runs a worker of that id left unfinished.
    ``concurrency`` caps the runs this worker executes at once per queue (applied to every llmteam queue).
    ``adopt`` names dead workers whose unfinished runs this one resumes (see :meth:`_Engine.adopt`).
    """
    async with AsyncExitStack() as stack:
        runtimes = [await stack.enter_async_context(DurableRuntime(
            team, url, system_db=system_db, executor_id=executor_id, concurrency=concurrency, **options))
            for team in teams]
        if concurrency is not None and runtimes:
            client = runtimes[0].client
            for queue in await client.list_queues_async():
                if queue.name.startswith(QUEUE_PREFIX):
                    await client.register_queue_async(
                        queue.name, partition_concurrency=queue.partition_concurrency,
                        worker_concurrency=concurrency, polling_interval_sec=queue.polling_interval_sec,
                        on_conflict="always_update")
        if adopt:
            await ENGINE.adopt(list(adopt))
        if ready is not None:
            ready()
        await stop.wait()
