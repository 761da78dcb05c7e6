"""The contract's convenience ``log_*`` methods, kept apart from the chain logic of the trail."""

from __future__ import annotations

from typing import Any

from llmteam.audit._enums import AuditEventType, AuditSeverity
from llmteam.audit._record import AuditRecord

__all__ = ["ConvenienceLogging"]


class ConvenienceLogging:
    """Mixin: one-line helpers for the most common audit events (each returns the new record)."""

    async def log(self, event_type: AuditEventType, **kwargs: Any) -> AuditRecord:  # pragma: no cover - abstract
        raise NotImplementedError

    async def log_pipeline_started(
        self, pipeline_id: str, run_id: str, actor_id: str, input_summary: Any = None
    ) -> AuditRecord:
        """PIPELINE_STARTED by a user."""
        return await self.log(
            AuditEventType.PIPELINE_STARTED, actor_type="user", actor_id=actor_id, action="start",
            resource_type="pipeline", resource_id=pipeline_id, pipeline_id=pipeline_id, run_id=run_id,
            new_value={"input_summary": input_summary} if input_summary is not None else None,
        )

    async def log_pipeline_completed(self, pipeline_id: str, run_id: str, output_summary: Any = None) -> AuditRecord:
        """PIPELINE_COMPLETED."""
        return await self.log(
            AuditEventType.PIPELINE_COMPLETED, action="complete", resource_type="pipeline", resource_id=pipeline_id,
            pipeline_id=pipeline_id, run_id=run_id,
            new_value={"output_summary": output_summary} if output_summary is not None else None,
        )

    async def log_pipeline_failed(self, pipeline_id: str, run_id: str, error: str) -> AuditRecord:
        """PIPELINE_FAILED (severity ERROR, success False)."""
        return await self.log(
            AuditEventType.PIPELINE_FAILED, severity=AuditSeverity.ERROR, action="fail", resource_type="pipeline",
            resource_id=pipeline_id, pipeline_id=pipeline_id, run_id=run_id, success=False, error_message=str(error),
        )

    async def log_access_denied(self, actor_id: str, resource_type: str, resource_id: str, reason: str) -> AuditRecord:
        """ACCESS_DENIED (severity WARNING, success False)."""
        return await self.log(
            AuditEventType.ACCESS_DENIED, severity=AuditSeverity.WARNING, actor_type="user", actor_id=actor_id,
            action="access_denied", resource_type=resource_type, resource_id=resource_id, success=False,
            error_message=reason,
        )

    async def log_approval(self, approved: bool, approver_id: str, request_id: str, reason: str = "") -> AuditRecord:
        """APPROVAL_GRANTED or APPROVAL_REJECTED for an approval request."""
        return await self.log(
            AuditEventType.APPROVAL_GRANTED if approved else AuditEventType.APPROVAL_REJECTED,
            severity=AuditSeverity.INFO if approved else AuditSeverity.WARNING, actor_type="user",
            actor_id=approver_id, action="approve" if approved else "reject", resource_type="approval_request",
            resource_id=request_id, success=bool(approved), metadata={"reason": reason} if reason else None,
        )

    async def log_config_change(
        self, actor_id: str, resource_type: str, resource_id: str, old_value: Any, new_value: Any
    ) -> AuditRecord:
        """CONFIG_CHANGED by a user, with the old and new values."""
        return await self.log(
            AuditEventType.CONFIG_CHANGED, actor_type="user", actor_id=actor_id, action="update",
            resource_type=resource_type, resource_id=resource_id, old_value=old_value, new_value=new_value,
        )
