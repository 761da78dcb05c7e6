"""The DBOS side of durable runs: one engine per process, the run workflow, and the checkpointing step runner.

A run is the DBOS workflow :func:`run_workflow`; every side effect the team runtime routes through its
:class:`~llmteam.team.StepRunner` (admission, each model call, each audit record, the mining events, the run
record) is a DBOS step, so a resumed run repeats none that completed. A step that re-executes after a crash
first asks the runtime's ``find`` whether its write already landed, so audit records, mining events and usage
are written exactly once per step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from dbos import DBOS, DBOSConfig
from dbos._error import DBOSWorkflowCancelledError  # how a workflow ends an attempt it cancelled itself

from llmteam.team import RunResult, StepRunner, TeamError
from llmteam.team._approval import RunPaused

if TYPE_CHECKING:
    from llmteam.team import TeamRuntime

logger = logging.getLogger(__name__)

T = TypeVar("T")
APP_NAME = "llmteam"
WORKFLOW_NAME = "llmteam.run"
QUEUE_PREFIX = "llmteam_runs_c"
POLL_SECONDS = 0.2


class DurableError(TeamError):
    """A durable-run operation failed: the engine is not available, misconfigured or the run is unknown."""


class RunFailedError(DurableError):
    """A durable run ended with an error; the message names the original error type and text."""


class DurableSteps(StepRunner):
    """Runs each side effect as a DBOS step named ``name``: checkpointed once, replayed from the checkpoint."""

    checkpoints = True

    async def step(self, name: str, effect: Callable[[], Awaitable[T]],
                   find: Callable[[], Awaitable[T | None]] | None = None) -> T:
        async def body() -> T:
            if find is not None:  # a re-executed step whose write landed before the crash returns that write
                found = await find()
                if found is not None:
                    return found
            return await effect()

        return await DBOS.run_step_async({"name": name}, body)


class _Engine:
    """This process's DBOS instance (DBOS is a per-process singleton) and the runtimes it serves, by team name."""

    def __init__(self) -> None:
        self.system_db: str | None = None
        self.executor_id: str | None = None
        self.schema = "dbos"
        self.runtimes: dict[str, TeamRuntime] = {}

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

    def launch(self, system_db: str, executor_id: str, schema: str = "dbos") -> None:
        """Launch DBOS on ``system_db`` inside the running event loop (queued runs execute on it).

        DBOS recovers the pending workflows of ``executor_id`` at launch: a worker restarted with the id it had
        resumes the runs it was executing when it died.
        """
        asyncio.get_running_loop()  # DBOS submits queued coroutines to the loop that launched it
        if self.system_db is not None:
            if (self.system_db, self.executor_id, self.schema) != (system_db, executor_id, schema):
                raise DurableError(
                    f"this process already runs DBOS on {self.system_db!r} as {self.executor_id!r}; one process "
                    f"serves one system database (asked for {system_db!r} as {executor_id!r})"
                )
            return
        config: DBOSConfig = {"name": APP_NAME, "system_database_url": system_db, "executor_id": executor_id,
                              "dbos_system_schema": schema, "log_level": "WARNING"}
        DBOS(config=config)
        DBOS.launch()
        self.system_db, self.executor_id, self.schema = system_db, executor_id, schema
        logger.info("DBOS launched on %s as executor %s", system_db, executor_id)

    async def adopt(self, executor_ids: list[str]) -> int:
        """Resume here the unfinished runs of dead workers ``executor_ids`` (DBOS's own recovery path); returns
        how many. Only for workers known to be dead: a live one would execute the same runs beside this one.
        """
        if self.system_db is None:
            raise DurableError("launch the engine before adopting another worker's runs")
        handles = await asyncio.to_thread(DBOS._recover_pending_workflows, executor_ids)
        return len(handles)

    def shutdown(self) -> None:
        """Destroy this process's DBOS instance (workflows in flight resume on the next launch or elsewhere)."""
        if self.system_db is None:
            return
        self.system_db = self.executor_id = None
        DBOS.destroy(destroy_registry=False)
        try:  # DBOS made its thread pool the loop's default executor and has shut it down: give the loop a live one
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="llmteam"))
        except RuntimeError:  # no running loop: nothing to repair
            pass


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
    try:
        return await runtime.run(input, tenant=tenant, run_id=current, retry_of=retry_of)
    except RunPaused:  # waits for a decision: this attempt ends; the decider resumes the (cancelled) workflow
        raise DBOSWorkflowCancelledError(f"run {current!r} waits for an approval") from None
    except Exception as exc:  # the engine stores the error; ours keep their type name in a picklable message
        raise RunFailedError(f"{type(exc).__name__}: {exc}") from None
