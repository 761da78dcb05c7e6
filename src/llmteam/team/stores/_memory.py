"""Run records in process memory (``memory://``)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict

from llmteam.team._errors import AdmissionRefused
from llmteam.team._records import RunRecord, TenantUsage, utc_day
from llmteam.team._store import RunStore, not_running, taken
from llmteam.team._usage import Usage


class MemoryRunStore(RunStore):
    """Run records in process memory (``memory://``), bounded; usage totals are kept per tenant forever.

    Beyond ``max_runs`` records the oldest finished runs are dropped first (a run counts as finished once
    ``finish`` stored it, or once its admission lease expired: its worker died). A running run is never dropped,
    so only running runs can take the count above the bound.
    """

    DEFAULT_MAX_RUNS = 10_000

    def __init__(self, max_runs: int = DEFAULT_MAX_RUNS) -> None:
        if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
            raise ValueError(f"max_runs={max_runs!r} must be an integer >= 1")
        self.max_runs = max_runs
        self._runs: OrderedDict[str, RunRecord] = OrderedDict()
        self._running: dict[str, dict[str, float]] = {}
        self._daily: dict[tuple[str, str], int] = {}
        self._usage: dict[str, TenantUsage] = {}

    async def admit(self, record: RunRecord, *, max_concurrent: int, max_per_day: int, lease: float) -> None:
        now = time.time()
        running = self._running.setdefault(record.tenant_id, {})
        for run_id in [r for r, until in running.items() if until <= now]:
            del running[run_id]
        if len(running) >= max_concurrent:
            raise AdmissionRefused("concurrent_pipelines", len(running), max_concurrent)
        day = (record.tenant_id, utc_day(now))
        today = self._daily.get(day, 0)
        if today >= max_per_day:
            raise AdmissionRefused("runs_per_day", today, max_per_day)
        if record.run_id in self._runs:
            raise taken(record)
        record.started_at = now  # a run starts when it is admitted
        running[record.run_id] = now + lease
        if day not in self._daily:  # a new day: drop the other days' counters so the dict stays bounded
            self._daily = {k: v for k, v in self._daily.items() if k[1] == day[1]}
        self._daily[day] = today + 1
        stored = copy.deepcopy(record)
        stored.status = "running"
        self._runs[record.run_id] = stored
        self._evict(now)

    async def pause(self, tenant_id: str, run_id: str) -> None:
        found = self._runs.get(run_id)
        if found is not None and found.tenant_id == tenant_id and found.status == "running":
            found.status = "paused"
            self._running.get(tenant_id, {}).pop(run_id, None)

    async def unpause(self, tenant_id: str, run_id: str, *, max_concurrent: int, lease: float) -> None:
        found = self._runs.get(run_id)
        if found is None or found.tenant_id != tenant_id or found.status != "paused":
            return
        now = time.time()
        running = self._running.setdefault(tenant_id, {})
        for other in [r for r, until in running.items() if until <= now]:
            del running[other]
        if len(running) >= max_concurrent:
            raise AdmissionRefused("concurrent_pipelines", len(running), max_concurrent)
        found.status = "running"
        running[run_id] = now + lease

    async def finish(self, record: RunRecord) -> None:
        stored = self._runs.get(record.run_id)
        running = self._running.get(record.tenant_id, {})
        if stored is None and record.run_id not in running:  # an evicted record still running is in _running
            raise not_running(record)
        if stored is not None and (stored.tenant_id != record.tenant_id or stored.status not in ("running", "paused")):
            raise not_running(record)
        running.pop(record.run_id, None)
        self._runs[record.run_id] = copy.deepcopy(record)
        self._runs.move_to_end(record.run_id)
        self._evict(time.time())
        tu = self._usage.setdefault(record.tenant_id, TenantUsage(record.tenant_id))
        tu.runs += 1
        tu.total.add(record.usage)
        for agent, u in record.usage_by_agent.items():
            tu.by_agent.setdefault(agent, Usage()).add(u)
            tu.by_model.setdefault(record.models.get(agent, ""), Usage()).add(u)

    def record_count(self) -> int:
        """Run records held (at most ``max_runs`` plus the runs still running)."""
        return len(self._runs)

    def _evict(self, now: float) -> None:
        """Drop the oldest records beyond ``max_runs``, skipping runs whose lease is live."""
        excess = len(self._runs) - self.max_runs
        if excess <= 0:
            return
        victims = []
        for run_id, rec in self._runs.items():
            leases = self._running.get(rec.tenant_id)
            if leases is not None and leases.get(run_id, 0.0) > now:
                continue  # still running
            victims.append(run_id)
            if len(victims) == excess:
                break
        for run_id in victims:
            rec = self._runs.pop(run_id)
            leases = self._running.get(rec.tenant_id)
            if leases is not None:
                leases.pop(run_id, None)  # an expired lease goes with its record
                if not leases:
                    del self._running[rec.tenant_id]

    async def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        rec = self._runs.get(run_id)
        return copy.deepcopy(rec) if rec is not None and rec.tenant_id == tenant_id else None

    async def list(self, tenant_id: str, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        mine = [r for r in reversed(self._runs.values()) if r.tenant_id == tenant_id]
        mine.sort(key=lambda r: r.started_at, reverse=True)
        return [copy.deepcopy(r) for r in mine[offset : offset + limit]]

    async def usage(self, tenant_id: str) -> TenantUsage:
        return copy.deepcopy(self._usage.get(tenant_id, TenantUsage(tenant_id)))

    async def close(self) -> None:
        await asyncio.sleep(0)
