"""A worker process: serve teams' durable runs from the queues until told to stop (``llmteam worker``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from llmteam.durable._control import RunControl, db_errors, system_db_for
from llmteam.durable._engine import ENGINE, QUEUE_PREFIX
from llmteam.durable._liveness import default_executor_id
from llmteam.durable._runtime import DurableRuntime
from llmteam.team import Team

logger = logging.getLogger(__name__)


async def cap_queues(client: DBOSClient, concurrency: int) -> int:
    """Set every llmteam queue's per-worker concurrency to ``concurrency`` where it differs; how many changed."""

    def cap() -> int:  # in a thread: DBOS's queue properties read the database synchronously
        changed = 0
        for queue in client.list_queues():
            if queue.name.startswith(QUEUE_PREFIX) and queue.worker_concurrency != concurrency:
                client.register_queue(
                    queue.name, partition_concurrency=queue.partition_concurrency,
                    partition_limiter=queue.partition_limiter, worker_concurrency=concurrency,
                    polling_interval_sec=queue.polling_interval_sec, on_conflict="always_update")
                changed += 1
        return changed

    return await asyncio.to_thread(cap)


async def _keep_capped(client: DBOSClient, concurrency: int, stop: asyncio.Event, every: float) -> None:
    """Cap the queues submitters create after this worker started, until ``stop``."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            try:
                await cap_queues(client, concurrency)
            except sa.exc.SQLAlchemyError as exc:  # the database is away: the next round tries again
                logger.warning("could not cap the queues: %s", str(exc).splitlines()[0][:300])


async def serve(teams: Sequence[Team], url: str, stop: asyncio.Event, *, system_db: str | None = None,
                executor_id: str | None = None, concurrency: int | None = None, system_schema: str = "dbos",
                adopt: Sequence[str] = (), ready: Callable[[], None] | None = None, heartbeat: float = 5.0,
                dead_after: float = 30.0, **options: Any) -> None:
    """Execute queued runs of ``teams`` in this process until ``stop`` is set; then leave them to the queues.

    ``executor_id`` names this worker (default ``host-pid-random``): DBOS resumes, at start, the runs a worker
    of that id left unfinished. ``concurrency`` caps the runs this worker executes at once per queue (applied
    to every llmteam queue before the worker takes any). The worker heartbeats every ``heartbeat`` seconds and
    resumes the runs of workers silent for ``dead_after`` seconds; declared dead itself (it stalled), it stops.
    ``adopt`` names dead workers whose unfinished runs this one resumes at once.
    """
    system_db = system_db or system_db_for(url)
    executor_id = executor_id or default_executor_id()
    if concurrency is not None:  # before taking any run: the queues that exist get this worker's cap
        with db_errors(system_db):
            await asyncio.to_thread(DBOS.migrate, system_db, schema=system_schema)
        async with RunControl(system_db, system_schema=system_schema) as control:
            with db_errors(system_db):
                await cap_queues(control.client, concurrency)
    async with AsyncExitStack() as stack:
        runtimes: list[DurableRuntime] = []
        for team in teams:
            runtimes.append(await stack.enter_async_context(DurableRuntime(
                team, url, system_db=system_db, executor_id=executor_id, concurrency=concurrency,
                system_schema=system_schema, heartbeat=heartbeat, dead_after=dead_after,
                on_declared_dead=stop.set, **options)))
        if adopt:
            await ENGINE.adopt(list(adopt))
        if ready is not None:
            ready()
        if concurrency is not None and runtimes:
            await _keep_capped(runtimes[0].client, concurrency, stop, heartbeat)
        await stop.wait()
