"""What one server process holds: the stores on the runtime's URL, the teams and their runtimes, the key manager.

Every store is opened from the one ``--db`` URL, so the server reads exactly what ``llmteam run`` and the CLI
write. Runs execute in process, one :class:`TeamRuntime` per team (opened at first use), or, with
``durable=True``, go to the DBOS queues that ``llmteam worker`` processes work. In-flight runs are bounded and kept
referenced until they finish. The teams directory is re-scanned every ``teams_poll`` seconds: a changed team gets
a new runtime, and the old one is closed once the runs it executes have finished.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from llmteam.audit import AuditLedger, AuditTrail
from llmteam.audit.stores import open_audit_store
from llmteam.backends import open_backend, parse_store_url
from llmteam.ratelimit import RateLimitConfig, RateLimiter, RateLimitStrategy
from llmteam.roles import ProcessMiningEngine, open_event_log
from llmteam.server._events import EventBoard, RunEvents
from llmteam.server._keys import KeyManager
from llmteam.server._teams import TeamDirectory
from llmteam.server.stores import open_key_store
from llmteam.team import RunEvent, RunResult, Team, TeamRuntime, open_run_store
from llmteam.tenancy import TenantManager
from llmteam.tenancy.stores import open_tenant_store

if TYPE_CHECKING:
    from llmteam.server._durable import DurableRuns

logger = logging.getLogger(__name__)

MAX_LISTED_RUNS = 1000  # filters over a tenant's runs look at its newest runs only
MAX_MINED_EVENTS = 200_000


def load_teams(directory: str | Path | None) -> dict[str, Team]:
    """Every ``*.yaml``/``*.yml`` team in ``directory`` (not recursive, no symlinks), by team name."""
    teams = TeamDirectory(directory)
    teams.scan(strict=True)
    return teams.teams


async def _drive(rt: TeamRuntime, data: dict[str, Any], tenant_id: str, run_id: str, events: RunEvents) -> RunResult:
    """Run the team, publishing its events; the run's result (its error is raised)."""
    try:
        stream = cast(AsyncGenerator[RunEvent, None], rt.stream(data, tenant=tenant_id, run_id=run_id))
        async with aclosing(stream):
            async for event in stream:
                if event.result is not None:
                    return event.result
                await events.publish(event.kind, {"run_id": event.run_id, "agent": event.agent, "step": event.step,
                                                  "data": dict(event.data)})
        raise RuntimeError(f"run {run_id} ended without a result")  # pragma: no cover - the stream always ends so
    finally:
        await events.end()


async def _first(items: AsyncIterator[Any]) -> Any:
    async for item in items:
        return item
    return None


class ServerState:
    """The stores, teams, runtimes, in-flight runs and rate limiters of one server."""

    def __init__(self, url: str, teams: Mapping[str, Team] | None = None, *, teams_dir: str | Path | None = None,
                 teams_poll: float = 2.0, durable: bool = False, system_db: str | None = None,
                 system_schema: str = "dbos", max_inflight: int = 256, key_rate_per_minute: float = 1200.0,
                 key_burst: int = 200, auth_failures_per_minute: float = 10.0, max_limiters: int = 10_000) -> None:
        parsed = parse_store_url(url, allowed=("sqlite", "postgresql"))
        self.url = parsed.url
        self.directory = TeamDirectory(teams_dir, teams)
        self.directory.scan(strict=True)  # a broken file at start is an error; later ones are reported
        self.teams_poll = teams_poll
        self._teams_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self.durable: DurableRuns | None = None
        if durable:
            from llmteam.server._durable import DurableRuns  # needs the durable extra

            self.durable = DurableRuns(self.url, system_db=system_db, system_schema=system_schema)
        self.max_inflight = max_inflight
        self.key_rate = RateLimitConfig(requests_per_second=key_rate_per_minute / 60.0,
                                        requests_per_minute=key_rate_per_minute,
                                        requests_per_hour=key_rate_per_minute * 60.0, burst_size=key_burst,
                                        strategy=RateLimitStrategy.REJECT)
        self.auth_rate = RateLimitConfig(requests_per_second=auth_failures_per_minute / 60.0,
                                         requests_per_minute=auth_failures_per_minute,
                                         requests_per_hour=auth_failures_per_minute * 60.0,
                                         burst_size=max(1, int(auth_failures_per_minute)),
                                         strategy=RateLimitStrategy.REJECT)
        self.max_limiters = max_limiters
        self._limiters: dict[str, OrderedDict[str, RateLimiter]] = {}  # per kind of name: key, authfail
        self._runtimes: dict[str, TeamRuntime] = {}
        self._runtime_lock = asyncio.Lock()
        self._opening: dict[str, asyncio.Lock] = {}  # per loaded team: its runtime's opening
        self._leases: dict[TeamRuntime, int] = {}
        self._retired: set[TeamRuntime] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.inflight: dict[str, asyncio.Task[Any]] = {}
        self.events = EventBoard()
        self.streams = 0  # runs streamed as server-sent events right now (they count against max_inflight)
        self.followers: Counter[str] = Counter()  # open event streams of existing runs, per tenant (own bounds)
        self.key_store: Any = None
        self.opened = False

    async def open(self) -> ServerState:
        """Open the stores (connections are made at first use)."""
        # one backend for the URL (one SQLite writer thread / one PostgreSQL pool), shared with the team runtimes
        self._backend = open_backend(self.url, allowed=("sqlite", "postgresql"))
        self.key_store = open_key_store(self._backend)
        self.tenant_store = open_tenant_store(self._backend)
        self.audit_store = open_audit_store(self._backend)
        self.run_store = open_run_store(self._backend)
        self.event_log = open_event_log(self._backend)
        self.tenants = TenantManager(self.tenant_store, cache_ttl=5.0)
        self.audit = AuditTrail(self.audit_store, use_context_tenant=True)
        self.ledger = AuditLedger(self.audit_store)
        self.keys = KeyManager(self.key_store, self.audit)
        if self.durable is not None:
            await self.durable.open()
        self.opened = True
        if self.directory.root is not None and self.teams_poll > 0:
            self._watcher = asyncio.create_task(self._watch(), name="llmteam-teams-watcher")
        return self

    async def close(self) -> None:
        """Cancel in-flight runs, close runtimes and stores; idempotent."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        for task in list(self.inflight.values()):
            task.cancel()
        if self.inflight:
            await asyncio.gather(*self.inflight.values(), return_exceptions=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for rt in (*self._runtimes.values(), *self._retired):
            await rt.close()
        self._runtimes.clear()
        self._retired.clear()
        if self.durable is not None:
            await self.durable.close()
        if self.opened:
            self.opened = False
            for store in (self.key_store, self.tenant_store, self.audit_store, self.run_store, self.event_log):
                try:
                    await store.close()
                except Exception:  # release the others even if one fails
                    logger.exception("closing %r failed", store)
            await self._backend.release()  # the last holder closes the file's thread / the pool

    # -- teams -------------------------------------------------------------------------------------
    @property
    def teams(self) -> dict[str, Team]:
        """The teams this server runs now, by name."""
        return self.directory.teams

    async def reload_teams(self) -> bool:
        """Re-scan the teams directory; a changed or removed team's runtime is retired. True if teams changed."""
        async with self._teams_lock:
            changed = await asyncio.to_thread(self.directory.scan)
        if changed:
            await self._retire_stale()
        return changed

    async def post_team(self, text: str) -> tuple[Team, bool]:
        """Validate and write a posted team file; (team, replaced). TeamConfigError names what is wrong."""
        async with self._teams_lock:
            team, replaced = await asyncio.to_thread(self.directory.write, text)
        await self._retire_stale()
        return team, replaced

    async def _watch(self) -> None:
        failing = ""
        while True:
            await asyncio.sleep(self.teams_poll)
            try:
                await self.reload_teams()
                failing = ""
            except Exception as exc:  # a vanished directory, a permission change: keep serving the last good teams
                if repr(exc) != failing:  # once per distinct failure, not every poll
                    failing = repr(exc)
                    logger.warning("re-reading the teams directory %s failed (%s); serving the last good teams",
                                   self.directory.root, failing[:300])

    async def _retire_stale(self) -> None:
        async with self._runtime_lock:
            for name, rt in list(self._runtimes.items()):
                if self.teams.get(name) is not rt.team:
                    del self._runtimes[name]
                    self._retired.add(rt)
                    self._close_if_idle(rt)
            for name in [n for n, lock in self._opening.items() if n not in self.teams and not lock.locked()]:
                del self._opening[name]  # bounded by the teams loaded
        if self.durable is not None:
            await self.durable.retire_stale(self.teams)

    def _close_if_idle(self, rt: TeamRuntime) -> None:
        if rt in self._retired and not self._leases.get(rt):
            self._retired.discard(rt)
            task = asyncio.get_running_loop().create_task(rt.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # -- runs --------------------------------------------------------------------------------------
    async def runtime(self, team_name: str) -> TeamRuntime:
        """The open runtime of a loaded team (KeyError if no such team). One opened for a definition that was
        removed or replaced while it opened is returned retired: it closes with its last :meth:`release`."""
        team = self.teams[team_name]
        rt = self._runtimes.get(team_name)
        if rt is not None and rt.team is team:
            return rt
        # one opening per team at a time; other teams never wait for it (an MCP server may take its connect timeout)
        opening = self._opening.setdefault(team_name, asyncio.Lock())
        async with opening:
            rt = self._runtimes.get(team_name)
            if rt is None or rt.team is not team:
                new = await TeamRuntime(team, self.url, actor="llmteam-server").open()
                async with self._runtime_lock:
                    rt = self._runtimes.get(team_name)
                    if rt is not None:  # changed since the last scan retired it: retire now
                        self._retired.add(rt)
                        self._close_if_idle(rt)
                    rt = self._runtimes[team_name] = new
                    if self.teams.get(team_name) is not team:  # removed or replaced while it opened, so the
                        del self._runtimes[team_name]  # scan's _retire_stale missed it: retired as it would be,
                        self._retired.add(new)  # closed when the caller's lease ends (or with the server)
            return rt

    async def lease(self, team_name: str) -> TeamRuntime:
        """The team's runtime, kept open until :meth:`release` even if the team is reloaded meanwhile."""
        rt = await self.runtime(team_name)
        self._leases[rt] = self._leases.get(rt, 0) + 1
        return rt

    def release(self, rt: TeamRuntime) -> None:
        """End a :meth:`lease`; a retired runtime closes with its last lease."""
        left = self._leases.get(rt, 1) - 1
        if left:
            self._leases[rt] = left
        else:
            self._leases.pop(rt, None)
            self._close_if_idle(rt)

    async def submit(self, team_name: str, tenant_id: str, data: dict[str, Any]) -> tuple[str, asyncio.Task[Any]]:
        """Start a run in process; (run id, its task). The task is kept referenced until it finishes, and its
        events are published on :attr:`events` for anyone following the run."""
        rt = await self.lease(team_name)
        run_id = uuid.uuid4().hex
        task = asyncio.create_task(_drive(rt, data, tenant_id, run_id, self.events.open(run_id)),
                                   name=f"llmteam-run-{run_id}")
        self.inflight[run_id] = task
        task.add_done_callback(lambda t: self._done(run_id, rt, t))
        return run_id, task

    def _done(self, run_id: str, rt: TeamRuntime, task: asyncio.Task[Any]) -> None:
        self.inflight.pop(run_id, None)
        self.events.close(run_id)
        self.release(rt)
        if not task.cancelled() and task.exception() is not None:
            logger.info("run %s ended with %s", run_id, type(task.exception()).__name__)

    # -- mining ------------------------------------------------------------------------------------
    async def mining_engine(self, tenant_id: str, team: str | None = None) -> ProcessMiningEngine:
        """The tenant's process events (one team's runs when ``team`` is given) in a bounded engine."""
        cases: set[str] | None = None
        if team is not None:
            cases = {r.run_id for r in await self.run_store.list(tenant_id, MAX_LISTED_RUNS, 0) if r.team == team}
        engine = ProcessMiningEngine(max_events=MAX_MINED_EVENTS)
        async for event in self.event_log.iterate(tenant_id=tenant_id):
            if cases is None or event.case_id in cases:
                engine.record_event(event)
        return engine

    # -- rate limits -------------------------------------------------------------------------------
    def limiter(self, name: str, config: RateLimitConfig) -> RateLimiter:
        """A REJECT limiter per name (``key:<id>``, ``authfail:<address>``), LRU-bounded to ``max_limiters`` per
        kind (the part before ``:``): failures from many addresses never push a key's limiter out (which would
        reset its rate)."""
        limiters = self._limiters.setdefault(name.partition(":")[0], OrderedDict())
        limiter = limiters.get(name)
        if limiter is None:
            limiter = RateLimiter(f"llmteam-server:{name}", config)
            limiters[name] = limiter
            while len(limiters) > self.max_limiters:
                limiters.popitem(last=False)
        limiters.move_to_end(name)
        return limiter

    async def readiness(self) -> dict[str, str]:
        """Each store's reachability: ``ok`` or the error type (never its message: it may hold a DSN)."""
        checks: dict[str, Any] = {
            "keys": self.key_store.ping(),
            "runs": self.run_store.list("_llmteam_readyz", 1, 0),
            "audit": self.audit_store.get_last_sequence("_llmteam_readyz"),
            "events": _first(self.event_log.iterate(tenant_id="_llmteam_readyz", page_size=1)),
        }
        out: dict[str, str] = {}
        for name, coro in checks.items():
            try:
                await asyncio.wait_for(coro, 5.0)
                out[name] = "ok"
            except Exception as exc:
                out[name] = f"unreachable ({type(exc).__name__})"
        return out
