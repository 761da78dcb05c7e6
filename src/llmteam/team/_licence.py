"""Licence checks for the runtime, following the contract's gating policy (enforced only when asked to).

With ``LLMTEAM_LICENSE_ENFORCE=1`` (or ``enforce_license=True``) the runtime needs an ENTERPRISE licence (it
runs the ENTERPRISE-gated TenantManager and AuditTrail), and a team may not have more agents than the licence's
``max_agents_per_pipeline``: refusals raise ``FeatureNotLicensedError``. Otherwise each would-be refusal is
logged once as a warning and every run's audit record carries the licence tier.
"""

from __future__ import annotations

import logging
from typing import Any

from llmteam.config import settings
from llmteam.licensing import FeatureNotLicensedError, LicenseManager, LicenseTier, get_license_manager

logger = logging.getLogger(__name__)


class LicenceCheck:
    """Checks a runtime's use against the licence; raises when enforcing, else warns once per problem."""

    def __init__(self, manager: LicenseManager | None = None, enforce: bool | None = None) -> None:
        self._manager = manager
        self.enforce = settings().license_enforce if enforce is None else enforce
        self._warned: set[str] = set()

    @property
    def manager(self) -> LicenseManager:
        """The licence manager in use (the process-wide one unless one was given)."""
        return self._manager if self._manager is not None else get_license_manager()

    @property
    def tier(self) -> LicenseTier:
        """The current licence tier."""
        return self.manager.tier

    @property
    def trust(self) -> dict[str, Any]:
        """The licence trust anchor in force (pinned issuer keys or an explicit, logged override) and whether the
        active licence is verified; audited in every run's PIPELINE_STARTED record."""
        lic = self.manager.license
        return {**LicenseManager.trust(), "verified": None if lic is None else lic.verified}

    def _refuse(self, key: str, what: str, required: LicenseTier, message: str) -> None:
        if self.enforce:
            raise FeatureNotLicensedError(what, required)
        if key not in self._warned:
            self._warned.add(key)
            logger.info("%s (licence tier %s; not enforced: set LLMTEAM_LICENSE_ENFORCE=1 to refuse)",
                           message, self.tier.value)

    def check_open(self) -> None:
        """The runtime itself: ENTERPRISE (multi-tenant runs with audit trail)."""
        if not self.manager.has_tier(LicenseTier.ENTERPRISE):
            self._refuse("runtime", "TeamRuntime", LicenseTier.ENTERPRISE,
                         "the team runtime (tenancy + audit trail) needs an ENTERPRISE licence")

    def check_agents(self, team_name: str, count: int) -> None:
        """A team's size against the licence's ``max_agents_per_pipeline``."""
        if not self.manager.check_agents_limit(count):
            maximum = self.manager.limits.max_agents_per_pipeline
            required = LicenseTier.PROFESSIONAL if count <= 20 else LicenseTier.ENTERPRISE
            self._refuse(f"agents:{team_name}", f"{count} agents in team {team_name!r} (licence allows {maximum})",
                         required, f"team {team_name!r} has {count} agents, more than the licence's {maximum}")
