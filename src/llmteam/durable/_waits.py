"""Queue waits for process mining: the time a durable run spent queued, as one ``wait:queue`` event per run.

It follows the waiting-time convention of :data:`llmteam.roles.WAIT_LIFECYCLE`: stamped when the wait ended
(the run started on a worker), its length in ``duration_ms``, so the miner reports it as waiting time, never as
service time.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from dbos import DBOS

from llmteam.roles import WAIT_LIFECYCLE, ProcessEvent

if TYPE_CHECKING:
    from llmteam.durable._engine import Attempt
    from llmteam.team import TeamRuntime

ACTIVITY = "wait:queue"


async def queued(run_id: str, attempt: Attempt) -> tuple[int, int, str]:
    """(enqueued, started, queue) of the running workflow, epoch ms, checkpointed as the run's first step
    (``attempt`` goes live when it executes: see :mod:`llmteam.durable._engine`)."""

    async def read() -> tuple[int, int, str]:
        attempt.live = True
        status = await DBOS.get_workflow_status_async(run_id)
        now = int(time.time() * 1000)
        if status is None:
            return now, now, ""
        return status.created_at or now, status.dequeued_at or now, status.queue_name or ""

    times: tuple[int, int, str] = await DBOS.run_step_async({"name": "queued"}, read)
    return times


async def record_queue_wait(runtime: TeamRuntime, tenant: str, run_id: str, times: tuple[int, int, str]) -> None:
    """Write the run's ``wait:queue`` event once (an effect whose re-execution finds the event it wrote)."""
    enqueued, started, queue = times
    event = ProcessEvent(f"{run_id}:{ACTIVITY}", datetime.fromtimestamp(started / 1000, timezone.utc), ACTIVITY,
                         queue or "queue", run_id, WAIT_LIFECYCLE, max(0, started - enqueued), 0.0, {"queue": queue})

    async def write() -> bool:
        await runtime.event_log.append_many([event], tenant_id=tenant)
        return True

    async def written() -> bool | None:
        async for found in runtime.event_log.iterate(tenant_id=tenant, case_id=run_id):
            if found.event_id == event.event_id:
                return True
        return None

    await runtime.steps.step(ACTIVITY, write, written)
