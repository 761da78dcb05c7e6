"""Durable runs for ``llmteam serve --durable``: submit to the DBOS queues, wait, stream, cancel, approve, deny.

The server only submits and controls; ``llmteam worker`` processes started with the same team files execute the
runs. Every operation first checks that the run belongs to the caller's tenant (the tenant is the run's queue
partition): another tenant's run is the same "no such run" as a run that does not exist.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from dbos import DBOS

from llmteam.durable import DurableError, DurableRuntime, PendingApproval, RunControl, RunStatus, system_db_for
from llmteam.team import RunEvent, Team, Usage

# DBOS status -> the run status the API shows while the run record does not say more
SHOWN = {"ENQUEUED": "queued", "PENDING": "running", "AWAITING_APPROVAL": "awaiting_approval",
         "CANCELLED": "cancelled", "SUCCESS": "completed", "ERROR": "failed",
         "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed"}
MAX_LISTED = 1000
MAX_REMEMBERED = 10_000
POLL_SECONDS = 0.2
SETTLED = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "AWAITING_APPROVAL"})


class NoSuchRun(LookupError):
    """The run does not exist, or belongs to another tenant."""


class DurableRuns:
    """One submitter per team (``DurableRuntime(serve=False)``) and one :class:`RunControl` for the server."""

    def __init__(self, url: str, *, system_db: str | None = None, system_schema: str = "dbos") -> None:
        self.url = url
        self.system_db = system_db or system_db_for(url)
        self.system_schema = system_schema
        self.control = RunControl(self.system_db, system_schema=system_schema)
        self._submitters: dict[str, DurableRuntime] = {}
        self._teams: OrderedDict[str, str] = OrderedDict()  # run id -> team, for runs submitted here (bounded)
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Create DBOS's schema if needed and connect."""
        await asyncio.to_thread(DBOS.migrate, self.system_db, schema=self.system_schema)  # idempotent
        await self.control.open()

    async def close(self) -> None:
        """Disconnect every submitter and the control."""
        for rt in self._submitters.values():
            await rt.close()
        self._submitters.clear()
        await self.control.close()

    async def retire_stale(self, teams: Mapping[str, Team]) -> None:
        """Close the submitters of teams that changed or went away (queued runs stay queued)."""
        async with self._lock:
            for name, rt in list(self._submitters.items()):
                if teams.get(name) is not rt.team:
                    del self._submitters[name]
                    await rt.close()

    async def _submitter(self, team: Team) -> DurableRuntime:
        async with self._lock:
            rt = self._submitters.get(team.name)
            if rt is None or rt.team is not team:
                if rt is not None:
                    await rt.close()
                rt = await DurableRuntime(team, self.url, system_db=self.system_db, serve=False,
                                          system_schema=self.system_schema, actor="llmteam-server").open()
                self._submitters[team.name] = rt
            return rt

    async def submit(self, team: Team, tenant_id: str, data: Mapping[str, Any]) -> str:
        """Queue a run; its id. Bad input and an unknown tenant raise here, limits are checked on a worker."""
        run_id = await (await self._submitter(team)).submit(data, tenant=tenant_id)
        self._teams[run_id] = team.name
        while len(self._teams) > MAX_REMEMBERED:
            self._teams.popitem(last=False)
        return run_id

    def unrecorded(self, tenant_id: str, status: RunStatus) -> dict[str, Any]:
        """The view of a run no worker has recorded yet (queued, or refused / cancelled before it started)."""
        return {"run_id": status.run_id, "tenant_id": tenant_id, "team": self._teams.get(status.run_id),
                "status": SHOWN.get(status.status, status.status.lower()), "error": status.error, "input": None,
                "output": None, "duration_ms": None, "started_at": None, "finished_at": None, "steps": 0,
                "usage": Usage().to_dict(), "usage_by_agent": {}}

    async def status(self, tenant_id: str, run_id: str) -> RunStatus:
        """The run's DBOS status; NoSuchRun unless it is ``tenant_id``'s."""
        try:
            status = await self.control.status(run_id)
        except DurableError as exc:
            if "no durable run" in str(exc):
                raise NoSuchRun(run_id) from None
            raise  # the system database failed: not the caller's fault
        if status.tenant != tenant_id:
            raise NoSuchRun(run_id)
        return status

    async def wait(self, tenant_id: str, run_id: str, timeout: float) -> RunStatus:
        """Wait up to ``timeout`` seconds for the run to end or to pause for an approval; its status then."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = await self.status(tenant_id, run_id)
            if status.status in SETTLED or asyncio.get_running_loop().time() >= deadline:
                return status
            await asyncio.sleep(POLL_SECONDS)

    async def listed(self, tenant_id: str) -> list[RunStatus]:
        """The tenant's newest MAX_LISTED durable runs, newest first (other tenants' runs never crowd them out)."""
        return await self.control.list(MAX_LISTED, tenant=tenant_id)

    async def cancel(self, tenant_id: str, run_id: str) -> RunStatus:
        """Cancel the run at its next step; its status before."""
        status = await self.status(tenant_id, run_id)
        await self.control.cancel(run_id)
        return status

    async def pending(self, tenant_id: str, run_id: str | None = None) -> list[PendingApproval]:
        """The tenant's (run's) approvals waiting for a decision."""
        return await self.control.pending(run_id, tenant=tenant_id)

    async def decide(self, tenant_id: str, run_id: str, *, approve: bool, approver: str, step: int | None,
                     reason: str) -> None:
        """Approve or deny the run's pending approval (DurableError: not waiting, wrong step, decided)."""
        await self.status(tenant_id, run_id)
        if approve:
            await self.control.approve(run_id, approver=approver, step=step, reason=reason)
        else:
            await self.control.deny(run_id, approver=approver, step=step, reason=reason)

    async def stream(self, tenant_id: str, run_id: str, offset: int = 0) -> AsyncGenerator[RunEvent, None]:
        """The run's events from ``offset``, live until it ends (RunFailedError / DurableError at the end)."""
        await self.status(tenant_id, run_id)
        async for event in self.control.stream(run_id, offset=offset):
            yield event
