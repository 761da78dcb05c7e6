"""Exceptions raised by ``llmteam.licensing``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmteam._exceptions import LLMTeamError

if TYPE_CHECKING:
    from llmteam.licensing._tiers import LicenseTier


class LicenseValidationError(LLMTeamError):
    """A licence key is malformed, forged, unsigned or cannot be verified."""


class LicenseExpiredError(LLMTeamError):
    """A licence key is authentic but its expiry day has passed."""


class FeatureNotLicensedError(LLMTeamError):
    """A feature needs a higher licence tier than the active one."""

    def __init__(self, feature: str, required_tier: LicenseTier) -> None:
        self.feature = feature
        self.required_tier = required_tier
        super().__init__(
            f"{feature!s} requires the {required_tier.display_name} licence tier ({required_tier.value}) or higher; "
            "activate a suitable licence key (llmteam license status shows the current tier)"
        )

    def __reduce__(self) -> tuple[type[FeatureNotLicensedError], tuple[str, LicenseTier]]:
        return (type(self), (self.feature, self.required_tier))
