"""Every error raised by llmteam.tools: one shallow hierarchy under :class:`ToolError`."""

from __future__ import annotations


class ToolError(Exception):
    """Base class for every tool error."""


class ToolDefinitionError(ToolError, TypeError):
    """A tool could not be built from what was given (bad name, unannotated parameter, *args...)."""


class ToolArgumentsError(ToolError, ValueError):
    """The arguments a model sent do not match the tool's schema; the message lists each problem."""


class ToolDeniedError(ToolError, PermissionError):
    """The tool policy refused a call (undeclared tool, deny, failed constraint, cap, sealed data, no approval)."""


class ToolTimeoutError(ToolError, TimeoutError):
    """A tool call did not finish within its policy's timeout."""


class ToolResultError(ToolError):
    """A tool returned something that cannot be serialised to send back to the model."""


class ToolFailedError(ToolError):
    """A tool call failed and its policy says a failure ends the run (``fail_run=True``)."""
