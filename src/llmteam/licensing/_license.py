"""The ``License`` record produced by activating a key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from llmteam.licensing._tiers import LicenseTier


@dataclass
class License:
    """An activated licence; valid through the end of its expiry day (local time).

    An assignable dataclass (the contract). The ``LicenseManager`` that issued it decides from the signed key, so
    edits here can narrow that licence (a lower tier, an earlier expiry) but never widen it.
    """

    key: str
    tier: LicenseTier
    owner: str
    owner_email: str
    expires_at: datetime
    issued_at: datetime
    features: list[str] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    verified: bool = False

    @property
    def is_expired(self) -> bool:
        """True once the expiry day has ended."""
        return date.today() > self.expires_at.date()

    @property
    def days_remaining(self) -> int:
        """Whole days left before the expiry day (0 on the expiry day and after it)."""
        return max(0, (self.expires_at.date() - date.today()).days)

    def to_dict(self) -> dict[str, Any]:
        """A display-safe summary: the key is truncated to its first 10 characters."""
        return {
            "key": self.key[:10] + "...",
            "tier": self.tier.value,
            "owner": self.owner,
            "expires_at": self.expires_at.isoformat(),
            "days_remaining": self.days_remaining,
            "features": list(self.features),
        }
