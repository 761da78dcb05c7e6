"""``DurableRuntime``: submit runs to per-tenant DBOS queues, wait for, cancel and resume them from any process.

Each tenant is one partition of a queue whose partition concurrency is the tenant's ``concurrent_pipelines``
(one queue per distinct limit), so a tenant flooding the queue never takes another tenant's slots. With
``serve=True`` (the default) this process is also a worker: it launches DBOS in the running event loop and
executes queued runs of its team; with ``serve=False`` it only submits and inspects (``llmteam run --detach``).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbos import DBOSClient, EnqueueOptions

from llmteam.durable._engine import ENGINE, POLL_SECONDS, QUEUE_PREFIX, WORKFLOW_NAME, DurableError, RunFailedError
from llmteam.team import DEFAULT_URL, RunResult, Team, TeamRuntime

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def system_db_for(url: str) -> str:
    """The DBOS system database beside the stores at ``url``: ``x.db`` -> ``x.dbos.db``; PostgreSQL: the same."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        stem = path[:-3] if path.endswith(".db") else path
        return f"sqlite:///{stem}.dbos.db"
    if url.startswith(("postgresql://", "postgres://")):
        return url
    raise DurableError(f"durable runs need a database, not {url!r}; use sqlite:///path.db or postgresql://...")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is 1-128 letters, digits or ``_.:-`` (not first); else a clear error."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise DurableError(f"run id {run_id!r} must be 1-128 letters, digits, '_', '.', ':' or '-', starting "
                           "with a letter or digit")
    return run_id


@dataclass(frozen=True)
class RunStatus:
    """Where a durable run is: DBOS status (ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED, ...) and its queue."""

    run_id: str
    status: str
    queue: str | None
    tenant: str | None
    executor: str | None
    attempts: int
    error: str | None


class DurableRuntime:
    """Durable runs of one team over the stores at ``url``; use ``async with DurableRuntime(team, url) as rt``.

    ``system_db`` is DBOS's database (default: beside ``url``). ``serve`` makes this process a worker for the
    team (``executor_id`` names it for recovery: a worker restarted with its id resumes its runs). Other
    keyword options go to :class:`~llmteam.team.TeamRuntime`.
    """

    def __init__(self, team: Team, url: str = DEFAULT_URL, *, system_db: str | None = None, tenant: str | None = None,
                 serve: bool = True, executor_id: str = "local", concurrency: int | None = None,
                 **options: Any) -> None:
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                        or concurrency < 1):
            raise DurableError(f"concurrency={concurrency!r} must be an integer >= 1 (runs per worker and queue)")
        self.team = team
        self.system_db = system_db or system_db_for(url)
        self.runtime = TeamRuntime(team, url, tenant=tenant, **options)
        self.serve = serve
        self.executor_id = executor_id
        self.concurrency = concurrency
        self._client: DBOSClient | None = None
        self._queues: set[str] = set()

    async def open(self) -> DurableRuntime:
        """Open the stores, connect to the system database and (``serve``) start working the queues."""
        await self.runtime.open()
        if self.serve:
            ENGINE.serve(self.runtime)
            ENGINE.launch(self.system_db, self.executor_id)
        self._client = await asyncio.to_thread(DBOSClient, system_database_url=self.system_db)
        return self

    async def close(self) -> None:
        """Stop serving, disconnect and close the stores; runs in flight resume when a worker starts again."""
        try:
            if self._client is not None:
                client, self._client = self._client, None
                client.destroy()
            if self.serve:
                ENGINE.forget(self.runtime)
                if not ENGINE.runtimes:
                    ENGINE.shutdown()  # DBOS takes the loop's default executor down with it: last of all
        finally:
            await self.runtime.close()

    async def __aenter__(self) -> DurableRuntime:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def client(self) -> DBOSClient:
        if self._client is None:
            raise DurableError("the durable runtime is not open; use `async with DurableRuntime(...) as rt`")
        return self._client

    async def _queue(self, concurrency: int) -> str:
        name = f"{QUEUE_PREFIX}{concurrency}"
        if name not in self._queues:
            await self.client.register_queue_async(
                name, partition_concurrency=concurrency, worker_concurrency=self.concurrency,
                polling_interval_sec=POLL_SECONDS, on_conflict="never_update" if self.concurrency is None
                else "always_update",
            )
            self._queues.add(name)
        return name

    async def submit(self, input: Mapping[str, Any], *, tenant: str | None = None, run_id: str | None = None) -> str:
        """Queue one run of the team for ``tenant`` on ``input``; returns its run id at once.

        The input and tenant are checked here (a bad one raises now); admission, limits and every step run on a
        worker. Submitting an id again returns the same run.
        """
        tenant_id = tenant if tenant is not None else self.runtime.tenant
        if not isinstance(tenant_id, str) or not tenant_id.strip():
            raise DurableError(f"no tenant given (tenant={tenant_id!r}); pass tenant= to submit() or the runtime")
        run_id = check_run_id(run_id) if run_id is not None else uuid.uuid4().hex
        data = self.team.check_input(input)
        config = await self.runtime.tenant_config(tenant_id)
        queue = await self._queue(max(1, config.get_effective_limits().max_concurrent_pipelines))
        options: EnqueueOptions = {"workflow_name": WORKFLOW_NAME, "queue_name": queue, "workflow_id": run_id,
                                   "queue_partition_key": tenant_id}
        await self.client.enqueue_async(options, self.team.name, tenant_id, run_id, data)
        return run_id

    async def result(self, run_id: str, timeout: float | None = None) -> RunResult:
        """The run's result, waiting up to ``timeout`` seconds (None: no limit); a failed run raises."""
        handle: Any = await self.client.retrieve_workflow_async(check_run_id(run_id))
        try:
            result: RunResult = await asyncio.wait_for(handle.get_result(polling_interval_sec=POLL_SECONDS), timeout)
        except asyncio.TimeoutError:
            raise DurableError(f"run {run_id!r} did not finish within {timeout}s; it keeps running "
                               "(`llmteam runs show` to follow it)") from None
        except RunFailedError:
            raise
        except Exception as exc:
            raise DurableError(f"run {run_id!r}: {type(exc).__name__}: {exc}") from None
        return result

    async def run(self, input: Mapping[str, Any], *, tenant: str | None = None, run_id: str | None = None,
                  timeout: float | None = None) -> RunResult:
        """Submit one run and wait for its result (the durable twin of :meth:`TeamRuntime.run`)."""
        return await self.result(await self.submit(input, tenant=tenant, run_id=run_id), timeout)

    async def status(self, run_id: str) -> RunStatus:
        """Where the run is now (raises :class:`DurableError` for an unknown run)."""
        found = await self.client.list_workflows_async(workflow_ids=[check_run_id(run_id)], load_input=False,
                                                      load_output=False)
        if not found:
            raise DurableError(f"no durable run {run_id!r}; `llmteam runs list` shows the known ones")
        return _status(found[0])

    async def list(self, limit: int = 100) -> list[RunStatus]:
        """The newest ``limit`` durable runs of every team and tenant, newest first."""
        found = await self.client.list_workflows_async(name=WORKFLOW_NAME, limit=limit, sort_desc=True,
                                                      load_input=False, load_output=False)
        return [_status(w) for w in found]

    async def cancel(self, run_id: str) -> None:
        """Stop the run at its next step (or before it starts); :meth:`resume` continues it."""
        await self.status(run_id)
        await self.client.cancel_workflow_async(run_id)

    async def resume(self, run_id: str) -> None:
        """Continue a cancelled or stalled run from its first unfinished step."""
        await self.status(run_id)
        await self.client.resume_workflow_async(run_id)


def _status(w: Any) -> RunStatus:
    return RunStatus(w.workflow_id, str(w.status), w.queue_name, w.queue_partition_key, w.executor_id,
                     int(getattr(w, "recovery_attempts", None) or 0), None if w.error is None else str(w.error)[:500])
