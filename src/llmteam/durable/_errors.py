"""The errors of durable runs (below every other durable module, so none imports another for them)."""

from __future__ import annotations

from llmteam.team import TeamError


class DurableError(TeamError):
    """A durable-run operation failed: the engine is not available, misconfigured or the run is unknown."""


class RunFailedError(DurableError):
    """A durable run ended with an error; the message names the original error type and text."""
