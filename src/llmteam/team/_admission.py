"""Admission of a run against its tenant's state and limits, and the own admission of a retried run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llmteam.audit import AuditEventType, AuditSeverity
from llmteam.team._errors import AdmissionRefused, TenantInactiveError
from llmteam.team._records import RunRecord
from llmteam.team._run import find_audit, sha256_text
from llmteam.tenancy import TenantConfig, TenantLimitExceededError

if TYPE_CHECKING:
    from llmteam.team._runtime import TeamRuntime

BASE_FEATURE = "basic_agents"


async def admit(rt: TeamRuntime, config: TenantConfig, raw_input: Any, run_id: str,
                retry_of: tuple[str, int] | None = None) -> tuple[RunRecord, int]:
    """Admit one run (the ``admit`` step) or audit its refusal as PIPELINE_FAILED; (record, requests/minute).

    A retried run (``retry_of``: original run id, first re-executed step) replays its original's ``admit``
    checkpoint, then admits itself: a run record of its own, counted against the same limits.
    """
    tenant_id, team = config.tenant_id, rt.team
    try:
        if not config.is_active:
            raise TenantInactiveError(
                f"tenant {tenant_id!r} is inactive; reactivate it (`llmteam tenants update {tenant_id} --active`)"
            )
        data = team.check_input(raw_input)
        for feature in sorted({BASE_FEATURE, *team.requires}):
            await rt.tenants.require_feature(tenant_id, feature)
        limits = config.get_effective_limits()
        if len(team.agents) > limits.max_agents_per_pipeline:
            raise TenantLimitExceededError(tenant_id, "agents_per_pipeline", len(team.agents),
                                           limits.max_agents_per_pipeline)
        if limits.max_requests_per_minute <= 0:
            raise TenantLimitExceededError(tenant_id, "requests_per_minute", 0, limits.max_requests_per_minute)
        rt.licence.check_agents(team.name, len(team.agents))
        record = RunRecord(run_id, tenant_id, team.name, input=data)

        async def insert() -> float:
            await rt.run_store.admit(record, max_concurrent=limits.max_concurrent_pipelines,
                                     max_per_day=limits.max_runs_per_day, lease=team.run_timeout + 60.0)
            return record.started_at

        async def admitted() -> float | None:
            found = await rt.run_store.get(tenant_id, run_id)
            return None if found is None else found.started_at

        try:
            record.started_at = await rt.steps.step("admit", insert, admitted)
            if retry_of is not None:  # the checkpoint was the original's admission: now this run's own, once
                record.started_at = await admitted() or await insert()
        except AdmissionRefused as refused:
            raise TenantLimitExceededError(tenant_id, refused.limit_type, refused.current,
                                           refused.maximum) from None
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"[:1000]
        await rt.steps.step("audit:refused", lambda: rt.audit.log(
            AuditEventType.PIPELINE_FAILED, severity=AuditSeverity.WARNING, actor_id=rt.actor, action="refuse",
            resource_type="pipeline", resource_id=team.name, success=False,
            error_message=message, pipeline_id=team.name, run_id=run_id,
        ), find_audit(rt.audit, run_id, AuditEventType.PIPELINE_FAILED))
        raise
    return record, limits.max_requests_per_minute


async def log_started(rt: TeamRuntime, record: RunRecord, retry_of: tuple[str, int] | None) -> None:
    """PIPELINE_STARTED once (the ``audit:started`` step); a retried run's own record names its original."""
    team, run_id = rt.team.name, record.run_id
    summary: dict[str, Any] = {
        "keys": sorted(record.input), "sha256": sha256_text(json.dumps(record.input, sort_keys=True)),
        "licence_tier": rt.licence.tier.value, "licence_trust": rt.licence.trust,
    }
    find = find_audit(rt.audit, run_id, AuditEventType.PIPELINE_STARTED)
    await rt.steps.step("audit:started", lambda: rt.audit.log_pipeline_started(
        team, run_id, rt.actor, input_summary=summary), find)
    if retry_of is not None and await find() is None:  # the checkpoint was the original's record
        await rt.audit.log_pipeline_started(team, run_id, rt.actor, input_summary={
            **summary, "retry_of": retry_of[0], "from_step": retry_of[1]})
