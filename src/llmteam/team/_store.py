"""Run stores: admit a run atomically against tenant limits, persist it when it ends, report usage.

The store is the single source of truth for ``concurrent_pipelines`` and ``runs_per_day``, so several
processes sharing one SQLite file or one PostgreSQL database keep the limits exactly: admission counts and
inserts in one transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a per-tenant advisory lock). A run left
``running`` by a crashed process stops counting as concurrent when its lease (the team's run timeout) ends.
Each run's usage (tokens, requests, cost, unpriced requests, tool calls made, refused and failed, tool time) is
kept per run and per agent; the SQL stores add columns through numbered migrations, so an older database is
upgraded in place when a newer llmteam opens it.
"""

from __future__ import annotations

from llmteam.team._errors import RunRecordError
from llmteam.team._records import RunRecord, TenantUsage


class RunStore:
    """Base class of the run stores (memory, SQLite, PostgreSQL); a new database subclasses it in ``team/stores/``.

    ``admit`` is the method that carries the guarantee: it must count and insert in one critical section
    shared by every process on the database, so limits hold exactly. The contract suite
    (``tests/contracts/test_run_store_contract.py``) runs every store through these docstrings.
    """

    async def admit(self, record: RunRecord, *, max_concurrent: int, max_per_day: int, lease: float) -> None:
        """Insert ``record`` as running if the tenant is under both limits, atomically; else AdmissionRefused.

        ``record.started_at`` is set to the admission time, inside the same critical section: a run starts when it
        is admitted, so runs that waited for a slot never appear to overlap the runs they waited for. Running
        runs count against ``max_concurrent`` until finished or until ``lease`` seconds after admission; admitted
        runs count against ``max_per_day`` for the UTC day of admission. A run id that is already taken (by any
        tenant) raises :class:`RunRecordError`. A refused admission writes nothing.
        """
        raise NotImplementedError

    async def finish(self, record: RunRecord) -> None:
        """Persist the final status, output, error, steps and usage (total and per agent) of a running run at once.

        The run must be unfinished (running, or paused waiting for a person) in this store for
        ``record.tenant_id``; otherwise (never admitted, another tenant's, finished already)
        :class:`RunRecordError` is raised and nothing is written. A finished run no
        longer counts as concurrent, and its usage counts in :meth:`usage`.
        """
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
        """The tenant's run ``run_id`` with its usage per agent (None if absent or another tenant's)."""
        raise NotImplementedError

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        """The tenant's runs, newest admission first, ``limit`` of them after skipping ``offset``."""
        raise NotImplementedError

    async def usage(self, tenant_id: str) -> TenantUsage:
        """The tenant's usage summed over its finished runs: in total, per agent and per model."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections; idempotent."""


def taken(record: RunRecord) -> RunRecordError:
    """The error of :meth:`RunStore.admit` for a run id that is already taken."""
    return RunRecordError(f"run id {record.run_id!r} is already taken; give each run a new id (or none)")


def not_running(record: RunRecord) -> RunRecordError:
    """The error of :meth:`RunStore.finish` for a record that is not a running run of its tenant."""
    return RunRecordError(
        f"run {record.run_id!r} of tenant {record.tenant_id!r} is not running in this store (never admitted for this "
        "tenant, or already finished): nothing was written; admit a run before finishing it, and finish it once"
    )
