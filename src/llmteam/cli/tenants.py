"""``llmteam tenants create|list|show|update``: manage tenants in the runtime's store; changes are audited.

Every change is written to the tenant's own audit chain (TENANT_CREATED / TENANT_UPDATED with the old and new
values), so ``llmteam audit verify`` covers configuration changes too.
"""

from __future__ import annotations

import difflib
import getpass
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from llmteam.audit import AuditEventType, AuditTrail
from llmteam.audit.stores import open_audit_store
from llmteam.cli._errors import fail
from llmteam.cli._format import cost_text
from llmteam.cli._format import table as compact_table
from llmteam.cli.audit import refuse_missing_database
from llmteam.cli.team import DbOpt, JsonOpt, print_json, run_command
from llmteam.team import TenantUsage, open_run_store
from llmteam.tenancy import (
    TIER_LIMITS,
    TenantAlreadyExistsError,
    TenantConfig,
    TenantManager,
    TenantNotFoundError,
    TenantTier,
)
from llmteam.tenancy.stores import open_tenant_store

T = TypeVar("T")

app = typer.Typer(help="Create, list, show and update tenants (limits, features, activation).", no_args_is_help=True)

TierOpt = typer.Option(None, "--tier", help="free, starter, professional or enterprise.")
NameOpt = typer.Option(None, "--name", help="Display name (default: the tenant id).")
ConcurrentOpt = typer.Option(None, "--max-concurrent", help="Override: concurrent pipelines.")
AgentsOpt = typer.Option(None, "--max-agents", help="Override: agents per pipeline.")
RpmOpt = typer.Option(None, "--max-rpm", help="Override: model requests per minute.")
EnableOpt = typer.Option(None, "--enable", help="Enable a feature (repeatable).")
DisableOpt = typer.Option(None, "--disable", help="Disable a feature (repeatable).")
ActorOpt = typer.Option(None, "--actor", help="Who makes the change, for the audit record (default: the OS user).")
UNLIMITED = 999_999
KNOWN_FEATURES = frozenset(f for limits in TIER_LIMITS.values() for f in limits.features if f != "*")


def _actor(actor: str | None) -> str:
    """The audited actor: ``--actor``, else the OS user running the command."""
    if actor is not None:
        if not actor.strip():
            fail("--actor is empty", 2, "give who makes the change, e.g. --actor alice")
        return actor.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return "llmteam-cli"


def _limit(value: int) -> str:
    """A limit for a table cell: the ENTERPRISE tier's 999999 (no practical limit) shows as ``∞``."""
    return "∞" if value >= UNLIMITED else str(value)


def _check_features(option: str, names: list[str] | None) -> None:
    for feature in names or []:
        if feature not in KNOWN_FEATURES:
            close = difflib.get_close_matches(feature, sorted(KNOWN_FEATURES), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            fail(f"{option} {feature!r}: unknown feature", 2,
                 f"{hint}known features: {', '.join(sorted(KNOWN_FEATURES))}")


def _tier(value: str | None) -> TenantTier | None:
    if value is None:
        return None
    try:
        return TenantTier(value.lower())
    except ValueError:
        fail(f"unknown tier {value!r}; use one of {', '.join(t.value for t in TenantTier)}", 2)


def _overrides(config: TenantConfig, max_concurrent: int | None, max_agents: int | None, max_rpm: int | None,
               enable: list[str] | None, disable: list[str] | None) -> None:
    for option, name, value in (("--max-concurrent", "max_concurrent_pipelines", max_concurrent),
                                ("--max-agents", "max_agents_per_pipeline", max_agents),
                                ("--max-rpm", "max_requests_per_minute", max_rpm)):
        if value is not None:
            if value < 0:
                fail(f"{option} must be >= 0, got {value}", 2, f"give {option} 0 or more")
            setattr(config, name, value)
    _check_features("--enable", enable)
    _check_features("--disable", disable)
    for feature in enable or []:
        config.features_enabled.add(feature)
        config.features_disabled.discard(feature)
    for feature in disable or []:
        config.features_disabled.add(feature)
        config.features_enabled.discard(feature)


def _with_stores(db: str, body: Callable[[TenantManager, AuditTrail], Awaitable[T]]) -> T:
    async def main() -> T:
        store, audit_store = open_tenant_store(db), open_audit_store(db)
        try:
            return await body(TenantManager(store), AuditTrail(audit_store, use_context_tenant=True))
        finally:
            await store.close()
            await audit_store.close()

    return run_command(main)


async def _get(manager: TenantManager, tenant_id: str) -> TenantConfig:
    try:
        return await manager.get_tenant(tenant_id)
    except TenantNotFoundError:
        raise TenantNotFoundError(
            f"tenant {tenant_id!r} does not exist; create it with `llmteam tenants create {tenant_id}`"
        ) from None


def _utc(value: datetime) -> str:
    """A tenant timestamp as aware UTC ISO text, like the audit log's (the store keeps the contract's local time)."""
    return value.astimezone(timezone.utc).isoformat()


def _summary(config: TenantConfig) -> dict[str, Any]:
    limits = config.get_effective_limits()
    return {**config.to_dict(), "created_at": _utc(config.created_at), "updated_at": _utc(config.updated_at),
            "effective_limits": limits.to_dict()}


def _print_config(config: TenantConfig, usage: TenantUsage | None = None) -> None:
    out = Console()
    limits = config.get_effective_limits()
    table = Table(title=f"Tenant {config.tenant_id!r}", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("name", config.name)
    table.add_row("tier", config.tier.value)
    table.add_row("active", "yes" if config.is_active else "[red]no[/red]")
    table.add_row("concurrent pipelines", str(limits.max_concurrent_pipelines))
    table.add_row("agents per pipeline", str(limits.max_agents_per_pipeline))
    table.add_row("requests per minute", str(limits.max_requests_per_minute))
    table.add_row("runs per day", str(limits.max_runs_per_day))
    table.add_row("features", ", ".join(sorted(limits.features)) or "-")
    table.add_row("created", _utc(config.created_at))
    table.add_row("updated", _utc(config.updated_at))
    if usage is not None:
        table.add_row("runs finished", str(usage.runs))
        table.add_row("tokens", f"{usage.total.total_tokens} ({usage.total.requests} requests)")
        table.add_row("cost", cost_text(usage.total.cost, usage.total.unpriced, usage.total.requests))
        u = usage.total
        if u.tool_calls or u.tool_denied or u.tool_failed:
            table.add_row("tool calls", f"{u.tool_calls} ran, {u.tool_denied} refused, {u.tool_failed} failed "
                                        f"({u.tool_ms:,.0f} ms)")
    out.print(table)


@app.command()
def create(
    tenant_id: str = typer.Argument(..., help="Tenant id."),
    name: str | None = NameOpt,
    tier: str = typer.Option("free", "--tier", help="free, starter, professional or enterprise."),
    max_concurrent: int | None = ConcurrentOpt, max_agents: int | None = AgentsOpt, max_rpm: int | None = RpmOpt,
    enable: list[str] | None = EnableOpt, disable: list[str] | None = DisableOpt,
    actor: str | None = ActorOpt, db: str = DbOpt, as_json: bool = JsonOpt,
) -> None:
    """Create a tenant (exit 1 if it exists)."""
    who = _actor(actor)
    try:
        config = TenantConfig(tenant_id, name or tenant_id, tier=_tier(tier) or TenantTier.FREE)
    except ValueError as exc:
        fail(f"{exc}", 2, "a tenant id is letters, digits, '-', '_' or '.', e.g. `llmteam tenants create acme`")
    _overrides(config, max_concurrent, max_agents, max_rpm, enable, disable)

    async def body(manager: TenantManager, trail: AuditTrail) -> TenantConfig:
        try:
            created = await manager.create_tenant(config)
        except TenantAlreadyExistsError:
            fail(f"tenant {tenant_id!r} already exists", 1,
                 f"change it with `llmteam tenants update {tenant_id} ...`, see `llmteam tenants show {tenant_id}`")
        async with manager.context(tenant_id):
            await trail.log(AuditEventType.TENANT_CREATED, actor_id=who, action="create", resource_type="tenant",
                            resource_id=tenant_id, new_value=created.to_dict())
        return created

    created = _with_stores(db, body)
    if as_json:
        print_json(_summary(created))
    else:
        _print_config(created)


@app.command("list")
def list_tenants(
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many."),
    db: str = DbOpt, as_json: bool = JsonOpt,
) -> None:
    """List tenants with their tier and main limits."""

    async def body(manager: TenantManager, trail: AuditTrail) -> list[TenantConfig]:
        return list(await manager.list_tenants(limit=limit, offset=offset))

    refuse_missing_database(db)  # listing reads: a mistyped --db must not create an empty database
    tenants = _with_stores(db, body)
    if as_json:
        print_json([_summary(t) for t in tenants])
        return
    numbers = ("conc.", "agents", "rpm", "runs/day")
    table = compact_table("tenant", "name", "tier", *numbers, numeric=numbers,
                          title="Tenants (conc.: concurrent pipelines; rpm: model requests per minute)")
    table.columns[0].min_width = min(12, max([6, *(len(t.tenant_id) for t in tenants)]))
    for t in tenants:
        lim = t.get_effective_limits()
        table.add_row(t.tenant_id, t.name, t.tier.value if t.is_active else f"{t.tier.value} (inactive)",
                      *(_limit(v) for v in (lim.max_concurrent_pipelines, lim.max_agents_per_pipeline,
                                            lim.max_requests_per_minute, lim.max_runs_per_day)))
    Console().print(table)


@app.command()
def show(tenant_id: str = typer.Argument(..., help="Tenant id."), db: str = DbOpt, as_json: bool = JsonOpt) -> None:
    """Show a tenant's configuration, effective limits and accumulated usage."""

    async def body(manager: TenantManager, trail: AuditTrail) -> tuple[TenantConfig, TenantUsage]:
        config = await _get(manager, tenant_id)
        runs = open_run_store(db)
        try:
            return config, await runs.usage(tenant_id)
        finally:
            await runs.close()

    config, usage = _with_stores(db, body)
    if as_json:
        print_json({**_summary(config), "usage": usage.to_dict()})
    else:
        _print_config(config, usage)


@app.command()
def update(
    tenant_id: str = typer.Argument(..., help="Tenant id."),
    name: str | None = NameOpt, tier: str | None = TierOpt,
    max_concurrent: int | None = ConcurrentOpt, max_agents: int | None = AgentsOpt, max_rpm: int | None = RpmOpt,
    enable: list[str] | None = EnableOpt, disable: list[str] | None = DisableOpt,
    active: bool | None = typer.Option(None, "--active/--inactive", help="Activate or deactivate the tenant."),
    actor: str | None = ActorOpt, db: str = DbOpt, as_json: bool = JsonOpt,
) -> None:
    """Change a tenant's name, tier, limit overrides, features or activation (exit 1 if it does not exist).

    A change is audited as TENANT_UPDATED with the old and new values; an update that changes nothing writes nothing.
    """
    who = _actor(actor)
    new_tier = _tier(tier)
    if all(v is None for v in (name, tier, max_concurrent, max_agents, max_rpm, active)) and not enable and not disable:
        fail("nothing to update", 2, "give at least one of --name, --tier, --max-concurrent, --max-agents, "
             "--max-rpm, --enable, --disable, --active/--inactive")

    async def body(manager: TenantManager, trail: AuditTrail) -> TenantConfig:
        config = await _get(manager, tenant_id)
        old = config.to_dict()
        if name is not None:
            config.name = name
        if new_tier is not None:
            config.tier = new_tier
        if active is not None:
            config.is_active = active
        _overrides(config, max_concurrent, max_agents, max_rpm, enable, disable)
        if config.to_dict() == old:  # nothing changed: no write, no audit record
            return config
        updated = await manager.update_tenant(config)
        async with manager.context(tenant_id):
            await trail.log(AuditEventType.TENANT_UPDATED, actor_id=who, action="update", resource_type="tenant",
                            resource_id=tenant_id, old_value=old, new_value=updated.to_dict())
        return updated

    updated = _with_stores(db, body)
    if as_json:
        print_json(_summary(updated))
    else:
        _print_config(updated)
