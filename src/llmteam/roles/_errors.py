"""Every error raised by ``llmteam.roles``: one shallow hierarchy."""

from __future__ import annotations

from llmteam._exceptions import LLMTeamError


class RolesError(LLMTeamError):
    """Base class of the errors raised by llmteam.roles."""


class XESImportError(RolesError, ValueError):
    """An XES document that cannot be read as a process-event log."""


class ProcessMapRenderError(RolesError, RuntimeError):
    """A process map that cannot be rendered (e.g. the Graphviz ``dot`` binary is missing)."""


class EventLogError(RolesError, RuntimeError):
    """A durable process-event log that cannot be opened, written or read."""
