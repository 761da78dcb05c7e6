"""Exceptions raised by llmteam.audit."""

from __future__ import annotations

from llmteam._exceptions import LLMTeamError

__all__ = ["AuditError", "AuditIntegrityError", "AuditStorageError"]


class AuditError(LLMTeamError):
    """Base class for every audit failure."""


class AuditIntegrityError(AuditError):
    """Audit data failed an integrity check (checksum, chain link or Merkle proof)."""

    def __init__(self, message: str, invalid_records: list[str] | None = None) -> None:
        super().__init__(message)
        self.invalid_records: list[str] = list(invalid_records) if invalid_records else []


class AuditStorageError(AuditError):
    """An audit store rejected or failed an operation (e.g. a duplicate sequence number)."""
