"""Audit event types and severities (API contract §4.1)."""

from __future__ import annotations

from enum import Enum

__all__ = ["AuditEventType", "AuditSeverity"]


class AuditEventType(Enum):
    """The kind of event an audit record describes; values are stable wire strings."""

    PIPELINE_CREATED = "pipeline.created"
    PIPELINE_STARTED = "pipeline.started"
    PIPELINE_COMPLETED = "pipeline.completed"
    PIPELINE_FAILED = "pipeline.failed"
    PIPELINE_PAUSED = "pipeline.paused"
    PIPELINE_RESUMED = "pipeline.resumed"
    PIPELINE_CANCELLED = "pipeline.cancelled"
    AGENT_STARTED = "agent.started"
    AGENT_COMPLETED = "agent.completed"
    AGENT_FAILED = "agent.failed"
    AGENT_RETRIED = "agent.retried"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_REJECTED = "approval.rejected"
    APPROVAL_TIMEOUT = "approval.timeout"
    APPROVAL_ESCALATED = "approval.escalated"
    ACTION_INVOKED = "action.invoked"
    ACTION_COMPLETED = "action.completed"
    ACTION_FAILED = "action.failed"
    ACCESS_GRANTED = "security.access_granted"
    ACCESS_DENIED = "security.access_denied"
    CONTEXT_ACCESSED = "security.context_accessed"
    SEALED_DATA_ACCESSED = "security.sealed_data_accessed"
    AUTHENTICATION_SUCCESS = "security.auth_success"
    AUTHENTICATION_FAILURE = "security.auth_failure"
    CONFIG_CHANGED = "config.changed"
    POLICY_CHANGED = "config.policy_changed"
    TENANT_CREATED = "config.tenant_created"
    TENANT_UPDATED = "config.tenant_updated"
    TENANT_DELETED = "config.tenant_deleted"
    DATA_CREATED = "data.created"
    DATA_UPDATED = "data.updated"
    DATA_DELETED = "data.deleted"
    DATA_EXPORTED = "data.exported"
    DATA_IMPORTED = "data.imported"


class AuditSeverity(Enum):
    """How serious an audit event is."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"
