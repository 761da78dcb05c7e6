"""``TeamRuntime``: runs a team for tenants with every guarantee on, over stores opened from one URL.

Per run: the tenant's context is entered; the tenant must exist and be active (or is created on first use,
see ``auto_create_tenant``), have the team's features (``basic_agents`` plus ``Team.requires``) and enough
``agents_per_pipeline``; admission against ``concurrent_pipelines`` and ``runs_per_day`` is one atomic store
transaction shared by every process on the same database. Each agent step is rate-limited per tenant and
provider (the tenant's ``requests_per_minute``; shared through Redis when ``redis_url`` is given), runs in its
own SecureAgentContext, is routed by the team's strategy under ``max_steps``, and lands in the tenant's
audit chain and the process-mining log. Tokens and cost are summed per run, agent and tenant.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmteam.audit import AuditEventType, AuditTrail
from llmteam.audit.stores import open_audit_store
from llmteam.backends import Backend, open_backend, parse_store_url
from llmteam.licensing import licensed_by
from llmteam.llm import LLMProvider
from llmteam.observability import NoTelemetry, resolve_telemetry
from llmteam.ratelimit import RateLimiter, RateLimitStrategy, backend_from_url
from llmteam.roles import PipelineOrchestrator, open_event_log
from llmteam.team._admission import admit, log_started
from llmteam.team._approval import Approvals, RunPaused
from llmteam.team._errors import RoutingError, RunTimeoutError, TeamConfigError, TeamError
from llmteam.team._licence import LicenceCheck
from llmteam.team._limiters import Limiters
from llmteam.team._loop import Publish, RunEvent
from llmteam.team._records import RunRecord, TenantUsage, check_run_id
from llmteam.team._result import AuditHead, RunResult
from llmteam.team._routing import CheckedStrategy, build_strategy
from llmteam.team._run import (
    HIDDEN,
    GovernedAgent,
    RunState,
    StepRunner,
    find_audit,
    output_digest,
    persist_once,
)
from llmteam.team._store import RunStore
from llmteam.team._stream import ToolSettings, stream_events
from llmteam.team._usage import PriceTable
from llmteam.team.stores import open_run_store
from llmteam.tenancy import TenantAlreadyExistsError, TenantConfig, TenantManager, TenantNotFoundError, TenantTier
from llmteam.tenancy.stores import open_tenant_store
from llmteam.tools import Approver, ToolPolicy, ToolScope
from llmteam.tools._mcp import open_servers

if TYPE_CHECKING:
    from llmteam.licensing import LicenseManager
    from llmteam.team._team import Team

logger = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///./.llmteam/llmteam.db"


class TeamRuntime:
    """Runs one team for any number of tenants; use ``async with team.runtime(url, tenant=...) as rt``.

    ``url`` opens every store (tenants, audit, process events, runs): ``sqlite:///path.db`` (default
    ``./.llmteam/llmteam.db``), ``postgresql://...`` or ``memory://``. ``redis_url`` shares rate limits between
    processes. ``auto_create_tenant`` is the tier given to an unknown tenant on first use (default FREE, the
    least-privileged tier, audited as TENANT_CREATED); None refuses unknown tenants. ``telemetry`` traces runs
    with OpenTelemetry (see ``llmteam.observability``; default: on when the application imported it).
    Tool calls: ``tool_policy``, ``approver`` and ``tool_digest_key``, see :class:`ToolSettings` and docs/tools.md.
    """

    def __init__(
        self,
        team: Team,
        url: str = DEFAULT_URL,
        *,
        tenant: str | None = None,
        redis_url: str | None = None,
        auto_create_tenant: TenantTier | str | None = TenantTier.FREE,
        rate_limit_strategy: RateLimitStrategy = RateLimitStrategy.WAIT,
        max_rate_wait: float = 30.0,
        prices: PriceTable | Mapping[str, Any] | None = None,
        license_manager: LicenseManager | None = None,
        enforce_license: bool | None = None,
        tenant_cache_ttl: float | None = 5.0,
        max_limiters: int = 10_000,
        actor: str = "llmteam",
        tool_policy: ToolPolicy | Mapping[str, ToolPolicy] | None = None,
        approver: Approver | None = None,
        tool_digest_key: bytes | Mapping[str, bytes] | None = None,
        telemetry: NoTelemetry | bool | None = None,
    ) -> None:
        self.team = team
        self.url = url
        self._parsed = parse_store_url(url, allowed=("memory", "sqlite", "postgresql"))
        self.tenant = tenant
        self.redis_url = redis_url
        if redis_url is not None:
            parse_store_url(redis_url, allowed=("redis",))
        try:
            self.auto_create_tenant = None if auto_create_tenant is None else TenantTier(auto_create_tenant)
            self.rate_limit_strategy = RateLimitStrategy(rate_limit_strategy)
        except ValueError as exc:
            raise TeamConfigError(f"{exc}; use a TenantTier / RateLimitStrategy value") from None
        for name, value in (("max_rate_wait", max_rate_wait), ("tenant_cache_ttl", tenant_cache_ttl or 0.0),
                            ("max_limiters", max_limiters)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise TeamConfigError(f"{name}={value!r} must be a number >= 0")
        if max_limiters < 1:
            raise TeamConfigError(f"max_limiters={max_limiters!r} must be >= 1")
        self.max_rate_wait = float(max_rate_wait)
        if prices is None:
            self.prices = team.prices
        else:
            self.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self.licence = LicenceCheck(license_manager, enforce_license)
        self.tenant_cache_ttl = tenant_cache_ttl
        self.max_limiters = max_limiters
        self.actor = actor
        self.telemetry = resolve_telemetry(telemetry)
        self.tools = ToolSettings(tool_policy, approver, tool_digest_key)
        self.steps: StepRunner = StepRunner()  # the durable layer installs a checkpointing runner here
        self.approvals = Approvals(approver)  # ... and approvals that pause the run until a person decides
        self.limiters = Limiters(self.rate_limit_strategy, self.max_rate_wait, max_limiters)
        self._stores: list[Any] = []  # what open() opened, closed by close()
        self._backend: Backend | None = None
        self._opened = False
        self._closed = False
        self._mcp_opened: list[Any] = []
        self.tenants: TenantManager
        self.audit: AuditTrail
        self.audit_store: Any
        self.event_log: Any
        self.run_store: RunStore

    # -- lifecycle ---------------------------------------------------------------------------------
    async def open(self) -> TeamRuntime:
        """Check the licence and open the stores (idempotent); ``async with`` calls it."""
        if self._closed:
            raise TeamError("this runtime is closed; open a new one with team.runtime(...)")
        if self._opened:
            return self
        self.licence.check_open()
        self.licence.check_agents(self.team.name, len(self.team.agents))
        # one backend for the URL (one SQLite writer thread / one PostgreSQL pool), shared by the four stores
        self._backend = open_backend(self._parsed.url, allowed=("memory", "sqlite", "postgresql"))
        try:
            self._stores.append(tenant_store := open_tenant_store(self._backend))
            self._stores.append(audit_store := open_audit_store(self._backend))
            self._stores.append(event_log := open_event_log(self._backend))
            self._stores.append(run_store := open_run_store(self._backend))
            self.audit_store, self.event_log, self.run_store = audit_store, event_log, run_store
            with licensed_by(self.licence.manager):  # their built-in gates ask this runtime's licence
                self.tenants = TenantManager(tenant_store, cache_ttl=self.tenant_cache_ttl)
                self.audit = AuditTrail(self.audit_store, use_context_tenant=True)
            if self.redis_url is not None:
                self._stores.append(rl_backend := backend_from_url(self.redis_url))
                self.limiters.backend = rl_backend
            self._mcp_opened = await open_servers(self.team.mcp_servers)
        except BaseException:
            await self._release()  # nothing stays open when opening fails half-way; open() may be tried again
            raise
        self._opened = True
        return self

    async def close(self) -> None:
        """Close every store and connection this runtime opened; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._release()

    async def _release(self) -> None:
        """Close what :meth:`open` opened (MCP servers, stores, the Redis client), then let go of the backend."""
        opened, self._mcp_opened, self._stores = [*self._mcp_opened, *self._stores], [], []
        for closeable in opened:
            close = getattr(closeable, "close", None) or getattr(closeable, "aclose", None)
            if close is None:
                continue
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # closing must release the others even if one fails
                logger.exception("closing %r failed", closeable)
        backend, self._backend, self._opened = self._backend, None, False
        if backend is not None:  # the last holder: closes the file's thread / the pool, off the loop
            await backend.release()

    async def __aenter__(self) -> TeamRuntime:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if not self._opened or self._closed:
            raise TeamError("the runtime is not open; use `async with team.runtime(...) as rt` or `await rt.open()`")

    # -- tenants and limiters ----------------------------------------------------------------------
    def _tenant_for(self, tenant: str | None) -> str:
        tenant_id = tenant if tenant is not None else self.tenant
        if not isinstance(tenant_id, str) or not tenant_id.strip():
            raise TeamError(f"no tenant given (tenant={tenant_id!r}); pass tenant= to run() or to team.runtime()")
        return tenant_id

    async def tenant_config(self, tenant_id: str) -> TenantConfig:
        """The tenant's configuration; an unknown tenant is created with ``auto_create_tenant`` or refused."""
        try:
            return await self.tenants.get_tenant(tenant_id)
        except TenantNotFoundError:
            if self.auto_create_tenant is None:
                raise TenantNotFoundError(
                    f"tenant {tenant_id!r} does not exist; create it first (`llmteam tenants create {tenant_id}`)"
                ) from None
        return await self.ensure_tenant(tenant_id, self.auto_create_tenant,
                                        metadata={"created_by": "team runtime (auto_create_tenant)"})

    async def ensure_tenant(self, tenant_id: str, tier: TenantTier | str = TenantTier.FREE, *, name: str | None = None,
                            metadata: dict[str, Any] | None = None) -> TenantConfig:
        """The tenant's configuration, creating it with ``tier`` (audited as TENANT_CREATED) when it is missing."""
        self._check_open()
        try:
            return await self.tenants.get_tenant(tenant_id)
        except TenantNotFoundError:
            pass
        config = TenantConfig(tenant_id, name or tenant_id, tier=TenantTier(tier), metadata=dict(metadata or {}))
        try:
            config = await self.tenants.create_tenant(config)
        except TenantAlreadyExistsError:  # another process created it first
            return await self.tenants.get_tenant(tenant_id)
        async with self.tenants.context(tenant_id):
            await self.audit.log(
                AuditEventType.TENANT_CREATED, actor_id=self.actor, action="create", resource_type="tenant",
                resource_id=tenant_id, new_value={"tier": config.tier.value},
            )
        logger.info("created tenant %r with tier %s", tenant_id, config.tier.value)
        return config

    # -- runs --------------------------------------------------------------------------------------
    async def run(self, input: Mapping[str, Any], *, tenant: str | None = None, run_id: str | None = None,
                  retry_of: tuple[str, int] | None = None) -> RunResult:
        """Run the team once for ``tenant`` (default: the runtime's) on ``input``; returns a RunResult.

        Refusals (unknown or inactive tenant, missing feature, over a limit, bad input) raise before any agent
        runs and are audited as PIPELINE_FAILED; a failing run is persisted as failed and re-raises the error.
        ``retry_of`` (the durable layer's retry: original run id, first step to re-execute): the steps before it
        replay the original's checkpoints, and count no usage and record no events of this run.
        """
        return await self._run(input, tenant, run_id, None, retry_of)

    def stream(self, input: Mapping[str, Any], *, tenant: str | None = None,
               run_id: str | None = None) -> AsyncIterator[RunEvent]:
        """Run like :meth:`run`, yielding :class:`RunEvent` s as they happen; the last, ``run_finished``, holds the
        :class:`RunResult`. A failing run raises after its events; closing the stream early cancels the run.
        """
        return stream_events(lambda publish: self._run(input, tenant, run_id, publish))

    async def _run(self, input: Mapping[str, Any], tenant: str | None, run_id: str | None,
                   publish: Publish | None, retry_of: tuple[str, int] | None = None) -> RunResult:
        self._check_open()
        tenant_id = self._tenant_for(tenant)
        run_id = uuid.uuid4().hex if run_id is None else check_run_id(run_id)
        config = await self.tenant_config(tenant_id)
        async with self.tenants.context(tenant_id):
            with self.telemetry.run(self.team.name, tenant_id, run_id):
                record, per_minute = await admit(self, config, input, run_id, retry_of)
                return await self._execute(record, config, per_minute, publish, retry_of)

    def _tool_scope(self, config: TenantConfig, run_id: str) -> ToolScope:
        async def limiter_for(tool: str, per_minute: float) -> RateLimiter:
            return self.limiters.named(config.tenant_id, f"tool:{tool}", per_minute)
        scope = self.tools.scope(config, run_id, self.team.name, self.audit, self.licence.manager.has_tier,
                                 limiter_for)
        scope.telemetry = self.telemetry
        return scope

    def _prepare(self, record: RunRecord, config: TenantConfig, per_minute: int, publish: Publish | None,
                 retry_of: tuple[str, int] | None) -> tuple[RunState, PipelineOrchestrator]:
        """The admitted run's state and its orchestrator, with every agent registered."""
        team = self.team

        async def limiter_for(tenant: str, llm: LLMProvider) -> RateLimiter:
            return self.limiters.for_provider(tenant, llm, per_minute)

        run = RunState(team, record.tenant_id, record.run_id, record.input, self.audit, self.prices, limiter_for,
                       tools=self._tool_scope(config, record.run_id), publish=publish, steps_runner=self.steps,
                       gate=self.approvals, inherited_before=0 if retry_of is None else retry_of[1])
        orchestrator = PipelineOrchestrator(
            team.name, CheckedStrategy(build_strategy(team, run), team), enable_process_mining=False,
            max_steps=team.max_steps + 1, history_limit=team.max_steps + 1,
        )
        for agent in team.agents:
            orchestrator.register_agent(agent.name, self.telemetry.wrap_agent(GovernedAgent(run, agent)))
        return run, orchestrator

    async def _execute(self, record: RunRecord, config: TenantConfig, per_minute: int, publish: Publish | None,
                       retry_of: tuple[str, int] | None) -> RunResult:
        team, tenant_id, run_id = self.team, record.tenant_id, record.run_id
        started = time.perf_counter()
        once = self.steps.step
        run: RunState | None = None
        status, final, error, paused = "failed", None, None, False
        try:  # the one bracket of the run's lifecycle: the run record is finished exactly once, on every path
            run, orchestrator = self._prepare(record, config, per_minute, publish, retry_of)
            await log_started(self, record, retry_of)
            try:
                await asyncio.wait_for(orchestrator.orchestrate(run_id, dict(record.input)), team.run_timeout)
            except asyncio.TimeoutError:
                raise RunTimeoutError(
                    f"run {run_id!r} of team {team.name!r} took longer than run_timeout={team.run_timeout:g}s; "
                    "raise limits.run_timeout or check the model endpoint"
                ) from None
            answered_by, output = self._final_output(run)
            summary = {**output_digest(tenant_id, team.agent(answered_by).sensitivity, output, "sha256"),
                       "chars": len(output), "steps": len(run.steps), "total_tokens": run.usage.total_tokens,
                       "cost": run.usage.cost}
            done = await once("audit:completed", lambda: self.audit.log_pipeline_completed(
                team.name, run_id, output_summary=summary), find_audit(self.audit, run_id,
                                                                       AuditEventType.PIPELINE_COMPLETED))
            status, final = "completed", output
        except RunPaused:  # waits for a decision: nothing is finished; the run continues from its checkpoints
            paused = True
            raise
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            failed = error
            await once("audit:failed", lambda: self.audit.log_pipeline_failed(team.name, run_id, failed),
                       find_audit(self.audit, run_id, AuditEventType.PIPELINE_FAILED))
            raise
        finally:
            if not paused:
                try:
                    if run is not None:
                        await self.approvals.finished(run)
                finally:
                    await self._persist(run, record, status, final, error)
        outputs = {name: text for name, text in run.outputs.items()  # by name: equal text is no licence to show
                   if team.agent(name).sensitivity not in HIDDEN or name == answered_by}
        return RunResult(
            run_id=run_id, tenant_id=tenant_id, team=team.name, output=output, outputs=outputs,
            usage=run.usage, usage_by_agent=run.usage_by_agent,
            audit_head=AuditHead(tenant_id, done.sequence_number, done.checksum), steps=run.steps,
            duration_ms=(time.perf_counter() - started) * 1000,
            contexts={name: ctx.to_dict() for name, ctx in run.contexts.items()},
            values={name: value for name, value in run.values.items() if name in outputs},
        )

    def _final_output(self, run: RunState) -> tuple[str, str]:
        """(name of the agent that answered, its output)."""
        team = self.team
        if team.output is not None:
            if team.output not in run.outputs:
                raise RoutingError(
                    f"team {team.name!r}: the run ended without running its output agent {team.output!r} "
                    f"(ran: {', '.join(run.outputs) or 'none'}); check the routes"
                )
            return team.output, run.outputs[team.output]
        if run.last_agent is None:
            raise RoutingError(f"team {team.name!r}: the run ended before any agent ran; check the routes from 'start'")
        return run.last_agent, run.outputs[run.last_agent]

    async def _persist(self, run: RunState | None, record: RunRecord, status: str, output: str | None,
                       error: str | None) -> None:
        record.status, record.output, record.error = status, output, error
        record.finished_at = time.time()
        if run is not None:  # None: the run failed before its state was built
            record.steps = len(run.steps)
            record.usage, record.usage_by_agent, record.models = run.usage, run.usage_by_agent, run.models
        await persist_once(self.steps, self.event_log, self.run_store, record, run.events if run else [])

    # -- reports -----------------------------------------------------------------------------------
    async def usage(self, tenant: str | None = None) -> TenantUsage:
        """The tenant's tokens and cost summed over its finished runs, in total, per agent and per model."""
        self._check_open()
        return await self.run_store.usage(self._tenant_for(tenant))

    async def runs(self, tenant: str | None = None, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        """The tenant's persisted runs, newest first."""
        self._check_open()
        return await self.run_store.list(self._tenant_for(tenant), limit, offset)

    async def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord | None:
        """One of the tenant's persisted runs (None if absent or another tenant's)."""
        self._check_open()
        return await self.run_store.get(self._tenant_for(tenant), run_id)

    async def verify_audit(self, tenant: str | None = None) -> tuple[bool, list[int]]:
        """Verify the tenant's whole audit chain (see ``AuditTrail.verify_chain``)."""
        self._check_open()
        async with self.tenants.context(self._tenant_for(tenant)):
            return await self.audit.verify_chain()
