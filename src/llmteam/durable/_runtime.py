"""``DurableRuntime``: submit runs to per-tenant DBOS queues, wait for, cancel and resume them from any process.

Each tenant is one partition of a queue whose partition concurrency is the tenant's ``concurrent_pipelines`` and
whose partition rate limit is its tier's requests per minute, in runs started per minute (a run makes at least one
request, so more would only wait in the rate limiter holding a worker); one queue per distinct pair of limits. A
tenant flooding the queue never takes another tenant's slots. With
``serve=True`` (the default) this process is also a worker: it launches DBOS in the running event loop and
executes queued runs of its team; with ``serve=False`` it only submits and inspects (``llmteam run --detach``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from dbos import DBOS, EnqueueOptions

from llmteam.durable._approval import DurableApprovals, close_services
from llmteam.durable._control import RunControl, check_run_id, db_errors, system_db_for
from llmteam.durable._engine import ENGINE, QUEUE_POLL_SECONDS, QUEUE_PREFIX, WORKFLOW_NAME, DurableError
from llmteam.durable._liveness import check_periods, default_executor_id
from llmteam.team import DEFAULT_URL, RunResult, Team, TeamRuntime


class DurableRuntime(RunControl):
    """Durable runs of one team over the stores at ``url``; use ``async with DurableRuntime(team, url) as rt``.

    ``system_db`` is DBOS's database (default: beside ``url``). ``serve`` makes this process a worker for the
    team (``executor_id`` names it for recovery, default ``host-pid-random``: a worker restarted with its id
    resumes its runs). A serving process heartbeats every ``heartbeat`` seconds and resumes the runs of
    workers silent for ``dead_after`` seconds; ``on_declared_dead`` is called if it is itself declared dead.
    ``system_schema`` is the PostgreSQL schema of DBOS's tables. Other keyword options go to
    :class:`~llmteam.team.TeamRuntime`.
    """

    def __init__(self, team: Team, url: str = DEFAULT_URL, *, system_db: str | None = None, tenant: str | None = None,
                 serve: bool = True, executor_id: str | None = None, concurrency: int | None = None,
                 system_schema: str = "dbos", heartbeat: float = 5.0, dead_after: float = 30.0,
                 on_declared_dead: Callable[[], None] | None = None, **options: Any) -> None:
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                        or concurrency < 1):
            raise DurableError(f"concurrency={concurrency!r} must be an integer >= 1 (runs per worker and queue)")
        check_periods(heartbeat, dead_after)
        super().__init__(system_db or system_db_for(url), system_schema=system_schema)
        self.team = team
        self.runtime = TeamRuntime(team, url, tenant=tenant, **options)
        self.serve = serve
        self.executor_id = executor_id or default_executor_id()
        self.liveness_options: dict[str, Any] = {"heartbeat": heartbeat, "dead_after": dead_after,
                                                 "on_declared_dead": on_declared_dead}
        self.concurrency = concurrency
        self._queues: set[str] = set()

    async def open(self) -> DurableRuntime:
        """Open the stores, connect to the system database and (``serve``) start working the queues."""
        await self.runtime.open()
        if self.serve:
            ENGINE.serve(self.runtime)
            self.runtime.approvals = DurableApprovals(self.runtime)
            ENGINE.launch(self.system_db, self.executor_id, self.system_schema, **self.liveness_options)
        else:  # a submitter may be first on a fresh database: create DBOS's schema (idempotent)
            with db_errors(self.system_db):
                await asyncio.to_thread(DBOS.migrate, self.system_db, schema=self.system_schema)
        await super().open()
        return self

    async def close(self) -> None:
        """Stop serving, disconnect and close the stores; runs in flight resume when a worker starts again."""
        try:
            await super().close()
            if self.serve:
                ENGINE.forget(self.runtime)
                if not ENGINE.runtimes:
                    close_services()
                    ENGINE.shutdown()  # DBOS takes the loop's default executor down with it: last of all
        finally:
            await self.runtime.close()

    async def __aenter__(self) -> DurableRuntime:
        return await self.open()

    async def _queue(self, concurrency: int, per_minute: int) -> str:
        """The queue whose partitions (tenants) run ``concurrency`` runs at once and start ``per_minute`` a minute."""
        name = f"{QUEUE_PREFIX}{concurrency}_r{per_minute}"
        if name not in self._queues:
            with db_errors(self.system_db):
                await self.client.register_queue_async(
                    name, partition_concurrency=concurrency, partition_limiter={"limit": per_minute, "period": 60.0},
                    worker_concurrency=self.concurrency, polling_interval_sec=QUEUE_POLL_SECONDS,
                    on_conflict="never_update" if self.concurrency is None else "always_update",
                )
            self._queues.add(name)
        return name

    async def submit(self, input: Mapping[str, Any], *, tenant: str | None = None, run_id: str | None = None) -> str:
        """Queue one run of the team for ``tenant`` on ``input``; returns its run id at once.

        The input and tenant are checked here (a bad one raises now); admission, limits and every step run on a
        worker. Submitting an id again with the same tenant and input returns the same run; an id another tenant,
        team or input already uses raises DurableError (the run it names is never handed over).
        """
        tenant_id = tenant if tenant is not None else self.runtime.tenant
        if not isinstance(tenant_id, str) or not tenant_id.strip():
            raise DurableError(f"no tenant given (tenant={tenant_id!r}); pass tenant= to submit() or the runtime")
        given = run_id is not None  # a caller's id may name a run already there: checked below
        run_id = check_run_id(run_id) if run_id is not None else uuid.uuid4().hex
        data = self.team.check_input(input)
        limits = (await self.runtime.tenant_config(tenant_id)).get_effective_limits()
        queue = await self._queue(max(1, limits.max_concurrent_pipelines), max(1, limits.max_requests_per_minute))
        options: EnqueueOptions = {"workflow_name": WORKFLOW_NAME, "queue_name": queue, "workflow_id": run_id,
                                   "queue_partition_key": tenant_id, "authenticated_user": tenant_id}
        with db_errors(self.system_db):
            await self.client.enqueue_async(options, self.team.name, tenant_id, run_id, data)
            found = await self.client.list_workflows_async(workflow_ids=[run_id], load_output=False) if given else []
        if given and [list(w.input["args"]) if w.input else [] for w in found] != [[self.team.name, tenant_id,
                                                                                     run_id, data]]:
            raise DurableError(f"run id {run_id!r} is already used by another run (another tenant's, team's or "
                               "input); submitting an id again returns its run only for the same tenant, team and "
                               "input: choose a new run id")
        return run_id

    async def run(self, input: Mapping[str, Any], *, tenant: str | None = None, run_id: str | None = None,
                  timeout: float | None = None) -> RunResult:
        """Submit one run and wait for its result (the durable twin of :meth:`TeamRuntime.run`)."""
        return await self.result(await self.submit(input, tenant=tenant, run_id=run_id), timeout)
