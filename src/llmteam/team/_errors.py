"""Errors raised by llmteam.team: one shallow hierarchy under :class:`TeamError`.

Tenant refusals are the tenancy module's own errors (``TenantNotFoundError``, ``TenantLimitExceededError``,
``TenantFeatureDisabledError``), provider failures are ``llmteam.llm.LLMError`` and licence refusals are
``llmteam.licensing.FeatureNotLicensedError``; the runtime re-raises them unchanged.
"""

from __future__ import annotations

from llmteam._exceptions import LLMTeamError


class TeamError(LLMTeamError):
    """Base class for team definition and run errors."""


class TeamConfigError(TeamError, ValueError):
    """A team definition (Python or YAML) is invalid: the message names the field and the value."""


class PromptVariableError(TeamError, KeyError):
    """A prompt names a variable that neither the run input nor an earlier agent provides."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RoutingError(TeamError):
    """The routing strategy chose an agent that is not in the team."""


class StepLimitError(TeamError):
    """A run took more routing decisions than the team's ``max_steps``."""


class ContextDeniedError(TeamError, PermissionError):
    """An agent's prompt asked for another agent's output that the context policy does not let it see."""


class TenantInactiveError(TeamError, PermissionError):
    """The tenant exists but is deactivated (``is_active=False``)."""


class RunTimeoutError(TeamError, TimeoutError):
    """A run took longer than the team's ``run_timeout``."""


class ToolLoopError(TeamError):
    """An agent kept asking for tools after its ``max_tool_rounds`` rounds."""


class RunRecordError(TeamError, ValueError):
    """A run store refused a record: its run id is taken (admit), or it is not a running run of its tenant (finish)."""


class AdmissionRefused(TeamError):
    """A run store refused a run because a tenant limit is reached (the runtime raises TenantLimitExceededError)."""

    def __init__(self, limit_type: str, current: int, maximum: int) -> None:
        super().__init__(f"{limit_type}: {current} >= {maximum}")
        self.limit_type = limit_type
        self.current = current
        self.maximum = maximum
