"""What one server process holds: the stores on the runtime's URL, the teams and their runtimes, the key manager.

Every store is opened from the one ``--db`` URL, so the server reads exactly what ``llmteam run`` and the CLI
write. Runs execute in process, one :class:`TeamRuntime` per team (opened at first use); in-flight runs are
bounded and kept referenced until they finish.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from llmteam.audit import AuditLedger, AuditTrail
from llmteam.audit.stores import open_audit_store
from llmteam.backends import open_backend, parse_store_url
from llmteam.ratelimit import RateLimitConfig, RateLimiter, RateLimitStrategy
from llmteam.roles import ProcessMiningEngine, open_event_log
from llmteam.server._keys import KeyManager
from llmteam.server.stores import open_key_store
from llmteam.team import RunRecord, Team, TeamConfigError, TeamRuntime, load_team, open_run_store
from llmteam.tenancy import TenantManager
from llmteam.tenancy.stores import open_tenant_store

logger = logging.getLogger(__name__)

MAX_TEAM_FILES = 1000
MAX_LISTED_RUNS = 1000  # filters over a tenant's runs look at its newest runs only
MAX_MINED_EVENTS = 200_000


def load_teams(directory: str | Path | None) -> dict[str, Team]:
    """Every ``*.yaml``/``*.yml`` team in ``directory`` (not recursive, no symlinks), by team name."""
    if directory is None:
        return {}
    root = Path(directory)
    if not root.is_dir():
        raise TeamConfigError(f"--teams {str(root)!r} is not a directory; give the folder holding team YAML files")
    teams: dict[str, Team] = {}
    files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml"))
    if len(files) > MAX_TEAM_FILES:
        raise TeamConfigError(f"{root} holds {len(files)} team files; the limit is {MAX_TEAM_FILES}")
    for path in files:
        if path.is_symlink() or not path.is_file():
            logger.warning("skipping %s: not a regular file", path)
            continue
        team = load_team(path)
        if team.name in teams:
            raise TeamConfigError(f"two team files in {root} define team {team.name!r}; rename one")
        teams[team.name] = team
    return teams


async def _first(items: AsyncIterator[Any]) -> Any:
    async for item in items:
        return item
    return None


class ServerState:
    """The stores, teams, runtimes, in-flight runs and rate limiters of one server."""

    def __init__(self, url: str, teams: Mapping[str, Team] | None = None, *, max_inflight: int = 256,
                 key_rate_per_minute: float = 1200.0, key_burst: int = 200, auth_failures_per_minute: float = 10.0,
                 max_limiters: int = 10_000) -> None:
        parsed = parse_store_url(url, allowed=("sqlite", "postgresql"))
        self.url = parsed.url
        self.teams = dict(teams or {})
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
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()
        self._runtimes: dict[str, TeamRuntime] = {}
        self._runtime_lock = asyncio.Lock()
        self.inflight: dict[str, asyncio.Task[Any]] = {}
        self.streams = 0  # runs streamed as server-sent events right now (they count against max_inflight)
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
        self.opened = True
        return self

    async def close(self) -> None:
        """Cancel in-flight runs, close runtimes and stores; idempotent."""
        for task in list(self.inflight.values()):
            task.cancel()
        if self.inflight:
            await asyncio.gather(*self.inflight.values(), return_exceptions=True)
        for rt in self._runtimes.values():
            await rt.close()
        self._runtimes.clear()
        if self.opened:
            self.opened = False
            for store in (self.key_store, self.tenant_store, self.audit_store, self.run_store, self.event_log):
                try:
                    await store.close()
                except Exception:  # release the others even if one fails
                    logger.exception("closing %r failed", store)
            await self._backend.release()  # the last holder closes the file's thread / the pool

    # -- runs --------------------------------------------------------------------------------------
    async def runtime(self, team_name: str) -> TeamRuntime:
        """The open runtime of a loaded team (KeyError if no such team)."""
        team = self.teams[team_name]
        async with self._runtime_lock:
            rt = self._runtimes.get(team_name)
            if rt is None:
                rt = await TeamRuntime(team, self.url, actor="llmteam-server").open()
                self._runtimes[team_name] = rt
            return rt

    async def submit(self, team_name: str, tenant_id: str, data: dict[str, Any]) -> tuple[str, asyncio.Task[Any]]:
        """Start a run in process; (run id, its task). The task is kept referenced until it finishes."""
        rt = await self.runtime(team_name)
        run_id = uuid.uuid4().hex
        task = asyncio.create_task(rt.run(data, tenant=tenant_id, run_id=run_id), name=f"llmteam-run-{run_id}")
        self.inflight[run_id] = task
        task.add_done_callback(lambda t: self._done(run_id, t))
        return run_id, task

    def _done(self, run_id: str, task: asyncio.Task[Any]) -> None:
        self.inflight.pop(run_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.info("run %s ended with %s", run_id, type(task.exception()).__name__)

    async def runs(self, tenant_id: str, *, limit: int, offset: int, status: str | None = None,
                   team: str | None = None) -> list[RunRecord]:
        """The tenant's runs, newest first, optionally filtered (filters see the newest MAX_LISTED_RUNS)."""
        if status is None and team is None:
            return await self.run_store.list(tenant_id, limit, offset)
        rows = await self.run_store.list(tenant_id, MAX_LISTED_RUNS, 0)
        rows = [r for r in rows if (status is None or r.status == status) and (team is None or r.team == team)]
        return rows[offset : offset + limit]

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
        """A REJECT limiter per name (a key id, a client address), LRU-bounded to ``max_limiters``."""
        limiter = self._limiters.get(name)
        if limiter is None:
            limiter = RateLimiter(f"llmteam-server:{name}", config)
            self._limiters[name] = limiter
            while len(self._limiters) > self.max_limiters:
                self._limiters.popitem(last=False)
        self._limiters.move_to_end(name)
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
