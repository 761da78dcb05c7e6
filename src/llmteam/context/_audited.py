"""The audit side of SecureAgentContext: which of its events are recorded, and which may never be lost."""

from __future__ import annotations

from typing import Any

from llmteam.audit import AuditEventType, AuditSeverity
from llmteam.context._audit_hook import AuditEmitter
from llmteam.context._errors import AuditBacklogError

__all__ = ["AuditedContext"]


class AuditedContext:
    """Mixin of SecureAgentContext: hands its access events to its AuditEmitter (``_auditor``), if any.

    Views and access checks are *ordinary* events (the newest is dropped when the queue is full). Everything
    about sealed data -- reads, refusals, exports and export refusals -- is *required*: never dropped, and a
    sealed value is released only when ``_require_audit_room`` finds room for its record.
    """

    agent_id: str
    agent_name: str
    _auditor: AuditEmitter | None

    @property
    def audit_trail(self) -> Any:
        """The audit trail access events go to, or None."""
        return None if self._auditor is None else self._auditor.trail

    async def flush_audit(self) -> None:
        """Wait until every audit event of this context has been handed to the trail (no-op without a trail)."""
        if self._auditor is not None:
            await self._auditor.flush()

    def _audit_check(self, viewer_id: str, viewer_role: str, allowed: bool, reason: str, action: str) -> None:
        if allowed:
            self._audit(
                AuditEventType.CONTEXT_ACCESSED,
                AuditSeverity.INFO,
                viewer_id,
                viewer_role,
                action,
                "agent_context",
                self.agent_id,
            )
        else:
            self._audit_denied(viewer_id, viewer_role, action, "agent_context", self.agent_id, reason, ordinary=True)

    def _require_audit_room(self, what: str) -> None:
        """AuditBacklogError unless the record of a sealed read or export can be queued (fail closed)."""
        if self._auditor is not None and not self._auditor.has_room_for_required():
            raise AuditBacklogError(
                f"{what} refused: {self._auditor.MAX_QUEUED} audit events about sealed data of agent "
                f"{self.agent_id!r} are still waiting for an event loop to be recorded; await ctx.flush_audit() "
                "(or call inside a running event loop)"
            )

    def _audit_denied(
        self,
        actor_id: str,
        role: str,
        action: str,
        resource_type: str,
        resource_id: str,
        reason: str,
        *,
        ordinary: bool = False,
        **metadata: Any,
    ) -> None:
        """An ACCESS_DENIED record; required (never dropped) unless ``ordinary`` (a denied view or check)."""
        self._audit(
            AuditEventType.ACCESS_DENIED,
            AuditSeverity.WARNING,
            actor_id,
            role,
            action,
            resource_type,
            resource_id,
            success=False,
            error_message=reason,
            required=not ordinary,
            **metadata,
        )

    def _audit(
        self,
        event: AuditEventType,
        severity: AuditSeverity,
        actor_id: str,
        role: str,
        action: str,
        resource_type: str,
        resource_id: str,
        *,
        success: bool = True,
        error_message: str = "",
        required: bool = False,
        **metadata: Any,
    ) -> None:
        if self._auditor is None:
            return
        self._auditor.emit(
            event,
            required=required,
            severity=severity,
            actor_type=role or "agent",
            actor_id=actor_id,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            success=success,
            error_message=error_message,
            agent_name=self.agent_name,
            metadata={"agent_id": self.agent_id, **metadata},
        )
