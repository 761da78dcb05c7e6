"""The DBOS side of durable runs: one engine per process, the run workflow, and the checkpointing step runner.

A run is the DBOS workflow :func:`run_workflow`; every side effect the team runtime routes through its
:class:`~llmteam.team.StepRunner` (admission, each model call and tool call, each agent's audit record) is a DBOS
step, so a resumed run repeats none that completed. The writes that close a run (:data:`CLOSING`: its completion
or failure record, its mining events, its run record, its queue wait) are not checkpoints of their own: each is
already idempotent by its key (``find``), and none of them is ever replayed into a retried run.

Exactly once, with one rule: within one attempt of a run (an execution of the workflow, the first or one resumed
after a crash, a pause or a cancel), the first step whose body executes is the only one that may have run before
(the attempt before stopped inside it, so it has no checkpoint); every effect after it is new. So an effect asks
its ``find`` whether its write already landed only until a step body has executed in this attempt: a resumed
run finds what it wrote before the crash, and a fresh run reads nothing back. One checkpointed ``closing`` step
comes before the closing writes: DBOS refuses it for a run cancelled or paused meanwhile, so such a run writes
none of them (as it writes no step after the cancel).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from dbos import DBOS, DBOSConfig
from dbos._error import DBOSWorkflowCancelledError  # how a workflow ends an attempt it cancelled itself

from llmteam.durable._errors import DurableError as DurableError  # re-exported: the durable modules import it here
from llmteam.durable._errors import RunFailedError as RunFailedError
from llmteam.durable._liveness import Liveness
from llmteam.durable._stream import CURRENT, IN_STEP, EventWriter, flush_current, release_current
from llmteam.durable._waits import ACTIVITY, queued, record_queue_wait
from llmteam.team import RunResult, StepRunner
from llmteam.team._approval import RunPaused
from llmteam.team._run import HIDDEN  # the sensitivities whose output is sealed

if TYPE_CHECKING:
    from llmteam.team import TeamRuntime

logger = logging.getLogger(__name__)

T = TypeVar("T")
APP_NAME = "llmteam"
WORKFLOW_NAME = "llmteam.run"
QUEUE_PREFIX = "llmteam_runs_c"
POLL_SECONDS = 0.2  # seconds between reads of a run's outcome from another process, and of the approvals queue
# seconds between a worker's polls of each run queue: a run starts 50 ms after submission on average. Each poll reads
# the queue and each tenant partition: an idle worker spent 3.8 % of a core polling every 0.2 s, 7.8 % every 0.05 s
QUEUE_POLL_SECONDS = 0.1


CLOSING = frozenset({"audit:completed", "audit:failed", "events", "finish", ACTIVITY})
"""The names of the effects that close a run: written with their idempotency keys, not checkpointed."""


@dataclass
class Attempt:
    """One execution of a run's workflow: ``live`` once a step body has executed in it (see the module doc);
    ``closing`` once its ``closing`` step has found the run still its to finish."""

    live: bool = False
    closing: bool = False

    async def close(self) -> None:
        """Before the first write that closes the run: the checkpointed ``closing`` step, which DBOS refuses
        (raising its cancellation) when the run was cancelled or paused meanwhile; until it passes, every
        closing write asks again, so a stopped run writes none of them."""
        if self.closing:
            return

        async def passed() -> bool:
            self.live = True
            return True

        await DBOS.run_step_async({"name": "closing"}, passed)
        self.closing = True


ATTEMPT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("llmteam_durable_attempt", default=None)


class DurableSteps(StepRunner):
    """Runs each side effect as a DBOS step named ``name``: checkpointed once, replayed from the checkpoint; the
    effects that close a run (:data:`CLOSING`) run once by their ``find`` instead."""

    checkpoints = True

    async def step(self, name: str, effect: Callable[[], Awaitable[T]],
                   find: Callable[[], Awaitable[T | None]] | None = None) -> T:
        attempt = ATTEMPT.get()

        async def once() -> T:
            if find is not None and (attempt is None or not attempt.live):  # it may have run before: look first
                found = await find()
                if found is not None:
                    return found
            return await effect()

        if name in CLOSING and find is not None and attempt is not None:
            await attempt.close()
            return await once()

        async def body() -> T:
            token = IN_STEP.set(True)
            try:
                return await once()
            finally:
                if attempt is not None:
                    attempt.live = True
                IN_STEP.reset(token)
                await flush_current()  # the step's last tokens, held: a replayed run does not publish them again

        await release_current()  # the events published since the last step, as one checkpointed write
        return await DBOS.run_step_async({"name": name}, body)


class _Engine:
    """This process's DBOS instance (DBOS is a per-process singleton) and the runtimes it serves, by team name."""

    def __init__(self) -> None:
        self.system_db: str | None = None
        self.executor_id: str | None = None
        self.schema = "dbos"
        self.runtimes: dict[str, TeamRuntime] = {}
        self.liveness: Liveness | None = None
        self._endings: dict[str, set[asyncio.Future[None]]] = {}

    def ending(self, run_id: str) -> asyncio.Future[None]:
        """A future resolved when an attempt of run ``run_id`` ends in this process (DBOS records its outcome
        right after): a waiter for the result reads it then instead of at its next poll. Pass it to
        :meth:`unwatch` when done (entries live only while someone waits)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._endings.setdefault(run_id, set()).add(future)
        return future

    def unwatch(self, run_id: str, future: asyncio.Future[None]) -> None:
        """Stop watching for the end of ``run_id`` with ``future``."""
        watching = self._endings.get(run_id)
        if watching is not None:
            watching.discard(future)
            if not watching:
                del self._endings[run_id]

    def ended(self, run_id: str) -> None:
        """An attempt of ``run_id`` ended here: wake its waiters (on their own loops)."""
        for future in self._endings.pop(run_id, ()):
            future.get_loop().call_soon_threadsafe(_resolve, future)

    def serve(self, runtime: TeamRuntime) -> None:
        """Execute ``runtime``'s team's runs in this process, each side effect a DBOS step."""
        name = runtime.team.name
        if name in self.runtimes and self.runtimes[name] is not runtime:
            raise DurableError(f"team {name!r} is already served by another runtime in this process; close it first")
        runtime.steps = DurableSteps()
        self.runtimes[name] = runtime

    def forget(self, runtime: TeamRuntime) -> None:
        """Stop serving ``runtime``'s team (its runs wait in the queue for another worker)."""
        if self.runtimes.get(runtime.team.name) is runtime:
            del self.runtimes[runtime.team.name]

    def launch(self, system_db: str, executor_id: str, schema: str = "dbos", *, heartbeat: float = 5.0,
               dead_after: float = 30.0, on_declared_dead: Callable[[], None] | None = None) -> None:
        """Launch DBOS on ``system_db`` inside the running event loop (queued runs execute on it), and this
        worker's heartbeat, which also hands the runs of workers silent for ``dead_after`` seconds to this one.

        DBOS recovers the pending workflows of ``executor_id`` at launch: a worker restarted with the id it had
        resumes the runs it was executing when it died. ``on_declared_dead`` is called if another worker
        declares this one dead (it stalled): its runs are then resumed elsewhere, so it should stop.
        """
        loop = asyncio.get_running_loop()  # DBOS submits queued coroutines to the loop that launched it
        if self.system_db is not None:
            if (self.system_db, self.executor_id, self.schema) != (system_db, executor_id, schema):
                raise DurableError(
                    f"this process already runs DBOS on {self.system_db!r} as {self.executor_id!r}; one process "
                    f"serves one system database (asked for {system_db!r} as {executor_id!r})"
                )
            return
        liveness = Liveness(system_db, schema, executor_id, recover_executors, heartbeat=heartbeat,
                            dead_after=dead_after)  # first: it also puts a SQLite system database in WAL mode
        config: DBOSConfig = {"name": APP_NAME, "system_database_url": system_db, "executor_id": executor_id,
                              "dbos_system_schema": schema, "log_level": "WARNING"}
        DBOS(config=config)
        DBOS.launch()
        try:
            liveness.register()
        except Exception:
            liveness.close()
            DBOS.destroy(destroy_registry=False)
            raise
        self.system_db, self.executor_id, self.schema = system_db, executor_id, schema
        self.liveness = liveness
        callback = on_declared_dead or (lambda: None)

        def declared_dead() -> None:  # called from the heartbeat thread: run the callback on the loop
            loop.call_soon_threadsafe(callback)

        liveness.start(declared_dead)
        logger.info("DBOS launched on %s as executor %s", system_db, executor_id)

    async def adopt(self, executor_ids: list[str]) -> int:
        """Resume here the unfinished runs of dead workers ``executor_ids`` (DBOS's own recovery path); returns
        how many. Only for workers known to be dead: a live one would execute the same runs beside this one.
        """
        if self.system_db is None:
            raise DurableError("launch the engine before adopting another worker's runs")
        return await asyncio.to_thread(recover_executors, executor_ids)

    def shutdown(self) -> None:
        """Destroy this process's DBOS instance (workflows in flight resume on the next launch or elsewhere)."""
        if self.system_db is None:
            return
        self.system_db = self.executor_id = None
        if self.liveness is not None:
            self.liveness.close()
            self.liveness = None
        DBOS.destroy(destroy_registry=False)
        try:  # DBOS made its thread pool the loop's default executor and has shut it down: give the loop a live one
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="llmteam"))
        except RuntimeError:  # no running loop: nothing to repair
            pass


def recover_executors(executor_ids: list[str]) -> int:
    """Resume the PENDING runs of dead executors ``executor_ids`` through DBOS's own recovery path; how many.

    The one call into DBOS's private API (``DBOS._recover_pending_workflows``): it re-queues each such workflow
    (keeping its queue and partition) only while it is still PENDING under one of those ids, so a second
    recovery of the same executor is a no-op. ``tests/durable/test_durable_liveness.py`` pins its signature and
    behaviour, so a DBOS upgrade that changes it fails there first.
    """
    return len(DBOS._recover_pending_workflows(list(executor_ids)))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


ENGINE = _Engine()


@DBOS.workflow(name=WORKFLOW_NAME)
async def run_workflow(team: str, tenant: str, run_id: str, input: dict[str, Any]) -> RunResult:
    """One durable run: the team runtime's ordinary run, with every side effect checkpointed."""
    from llmteam.durable._approval import engine_service  # a module that imports this one

    runtime = ENGINE.runtimes.get(team)
    if runtime is None:
        raise DurableError(f"no runtime in this worker serves team {team!r}; start `llmteam worker` with its team file")
    current = DBOS.workflow_id or run_id  # a retry (a fork) runs under its own id, with its original's arguments
    retry_of = None
    if current != run_id:
        service = engine_service()
        retry_of = await service.call(service.store.retry_of, current)
        if retry_of is None:
            raise RunFailedError(f"DurableError: run {current!r} is a fork of {run_id!r} not made by retry()")
    attempt = Attempt()
    ATTEMPT.set(attempt)  # this task's own context: concurrent runs each have theirs
    times = await queued(current, attempt)
    events = EventWriter(frozenset(a.name for a in runtime.team.agents if a.sensitivity in HIDDEN))
    token = CURRENT.set(events)
    try:
        # the runtime's run with a publisher (TeamRuntime.run has none): its events go to the run's DBOS stream
        return await runtime._run(input, tenant, current, events.publish, retry_of)
    except RunPaused:  # waits for a decision: this attempt ends; the decider resumes the (cancelled) workflow
        raise DBOSWorkflowCancelledError(f"run {current!r} waits for an approval") from None
    except Exception as exc:  # the engine stores the error; ours keep their type name in a picklable message
        raise RunFailedError(f"{type(exc).__name__}: {exc}") from None
    finally:
        CURRENT.reset(token)
        try:
            await record_queue_wait(runtime, tenant, current, times)
            await events.close()
        finally:
            ENGINE.ended(current)
