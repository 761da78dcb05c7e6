"""Exceptions raised by llmteam.context (one shallow hierarchy)."""

from __future__ import annotations

from llmteam._exceptions import LLMTeamError

__all__ = ["AuditBacklogError", "ContextAccessError", "SealedDataAccessError"]


class ContextAccessError(LLMTeamError):
    """A viewer asked for context data that the access policy does not grant."""

    def __init__(self, message: str, viewer_id: str = "", field_name: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.viewer_id = viewer_id
        self.field_name = field_name


class SealedDataAccessError(ContextAccessError, PermissionError):
    """Someone other than the owner tried to read or delete a sealed value."""

    def __init__(self, owner_id: str, requester_id: str, field_name: str = "", *, message: str = "") -> None:
        where = f" field {field_name!r}" if field_name else " data"
        message = message or (
            f"{requester_id!r} may not access sealed{where} owned by {owner_id!r}; only the owner can read or delete it"
        )
        super().__init__(message, viewer_id=requester_id, field_name=field_name)
        self.owner_id = owner_id
        self.requester_id = requester_id

    def __str__(self) -> str:
        return self.message


class AuditBacklogError(ContextAccessError):
    """A sealed read or export was refused because its audit event could not be queued (too many unrecorded)."""
