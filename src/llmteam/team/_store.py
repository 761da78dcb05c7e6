"""Run stores: admit a run atomically against tenant limits, persist it when it ends, report usage.

The store is the single source of truth for ``concurrent_pipelines`` and ``runs_per_day``, so several
processes sharing one SQLite file or one PostgreSQL database keep the limits exactly: admission counts and
inserts in one transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a per-tenant advisory lock). A run left
``running`` by a crashed process stops counting as concurrent when its lease (the team's run timeout) ends.
"""

from __future__ import annotations

from llmteam.team._records import RunRecord, TenantUsage


class RunStore:
    """Base class of the run stores (memory, SQLite, PostgreSQL); a new database subclasses it in ``team/stores/``.

    ``admit`` is the method that carries the guarantee: it must count and insert in one critical section
    shared by every process on the database, so limits hold exactly.
    """

    async def admit(self, record: RunRecord, *, max_concurrent: int, max_per_day: int, lease: float) -> None:
        """Insert ``record`` as running if the tenant is under both limits, atomically; else AdmissionRefused.

        ``record.started_at`` is set to the admission time, inside the same critical section: a run starts when it
        is admitted, so runs that waited for a slot never appear to overlap the runs they waited for.
        """
        raise NotImplementedError

    async def finish(self, record: RunRecord) -> None:
        """Persist the final status, output, error and usage of an admitted run in one transaction."""
        raise NotImplementedError

    async def pause(self, tenant_id: str, run_id: str) -> None:
        """Mark the tenant's running run ``run_id`` ``paused`` (it waits for a person's decision): it stops
        counting against ``concurrent_pipelines``. A run that is not running is left as it is."""
        raise NotImplementedError

    async def unpause(self, tenant_id: str, run_id: str, *, max_concurrent: int, lease: float) -> None:
        """Count the paused run ``run_id`` as running again, with a fresh lease, if the tenant is under
        ``max_concurrent`` (atomically, like :meth:`admit`); else AdmissionRefused. A run that is not paused is
        left as it is."""
        raise NotImplementedError

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        """The tenant's run ``run_id`` (None if absent or another tenant's)."""
        raise NotImplementedError

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        """The tenant's runs, newest first."""
        raise NotImplementedError

    async def usage(self, tenant_id: str) -> TenantUsage:
        """The tenant's usage summed over its finished runs."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections; idempotent."""
