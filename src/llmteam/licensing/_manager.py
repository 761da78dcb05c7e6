"""``LicenseManager``: the active tier and licence of one instance, plus the lazily created singleton."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from llmteam.licensing._activation import (
    Grant,
    authenticate,
    end_of_day_timestamp,
    find_configured_key,
    grant_for,
    license_for,
)
from llmteam.licensing._errors import LicenseExpiredError, LicenseValidationError
from llmteam.licensing._keys import VERIFIER, decode_public_key, parse_key
from llmteam.licensing._license import License
from llmteam.licensing._tiers import LICENSE_FEATURES, LICENSE_LIMITS, LicenseLimits, LicenseTier
from llmteam.licensing._trust import fingerprint

if TYPE_CHECKING:
    from llmteam.execution import ExecutorConfig

logger = logging.getLogger(__name__)

_KEEP: Any = object()
#: Every feature name some tier decides. A licence's own ``features`` list may add other names (add-ons, which
#: the contract honours); one of these it grants only if its signed tier does.
_TIER_FEATURES = frozenset().union(*(lim.features for lim in LICENSE_LIMITS.values()), *LICENSE_FEATURES.values())


class LicenseManager:
    """Tier, licence and limits of one instance; instances never share activation state."""

    _instance: ClassVar[LicenseManager | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, tier: LicenseTier | None = None) -> None:
        if tier is not None and not isinstance(tier, LicenseTier):
            raise TypeError(f"tier must be a LicenseTier or None, not {tier!r}")
        self._fixed_tier = tier
        self._license: License | None = None  # handed out, and assignable: it may narrow the grant, never widen it
        self._grant: Grant | None = None  # what the key's signature vouches for
        self._epoch = -1  # the trust anchor (VERIFIER.epoch) the grant was verified under
        self._deadline_for: tuple[Grant, datetime, float] | None = None
        if tier is None:
            self._load()

    # -- singleton and process-wide verifier configuration -------------------------------------------------
    @classmethod
    def instance(cls) -> LicenseManager:
        """The lazily created process-wide manager."""
        inst = cls._instance
        if inst is None:
            with cls._instance_lock:
                inst = cls._instance
                if inst is None:
                    inst = cls._instance = cls()
        return inst

    @classmethod
    def reset(cls) -> None:
        """Drop the singleton so the next ``instance()`` is freshly loaded."""
        with cls._instance_lock:
            cls._instance = None

    @classmethod
    def configure(
        cls, public_key: bytes | str | None = _KEEP, *, allow_unsigned: bool = _KEEP, source: str = "configure()"
    ) -> None:
        """Override the licence trust anchor: the issuer's Ed25519 public key and/or the legacy unsigned mode.

        Licences are checked against the issuer keys pinned in the distribution; ``public_key`` (raw 32 bytes or
        base64) replaces them for this process, ``None`` restores them. ``allow_unsigned=True`` accepts unsigned
        legacy keys as COMMUNITY keys. Each widening change is logged as a WARNING and kept for the runtime's audit
        records (``trust_overrides()``); ``source`` names the entry point. Arguments left out keep their value.
        Raises ValueError for a malformed public key. The environment is never consulted.
        """
        if not isinstance(source, str) or not source:
            raise TypeError(f"source must be a non-empty str, not {source!r}")
        if allow_unsigned is not _KEEP and not isinstance(allow_unsigned, bool):
            raise TypeError(f"allow_unsigned must be a bool, not {allow_unsigned!r}")
        if public_key is not _KEEP:
            raw = None if public_key is None else decode_public_key(public_key, "public_key")
            VERIFIER.public_key = raw
            if raw is not None:
                VERIFIER.trust_log.record("public_key", fingerprint(raw), source)
        if allow_unsigned is not _KEEP:
            VERIFIER.allow_unsigned = allow_unsigned
            if allow_unsigned:
                VERIFIER.trust_log.record("allow_unsigned", "true", source)

    @classmethod
    def trust(cls) -> dict[str, Any]:
        """What licences are checked against: ``{"issuer": "pinned"|"override", "keys": [fingerprints],
        "allow_unsigned": bool, "overrides": count}`` (the team runtime writes it into every run's audit record)."""
        return VERIFIER.trust()

    @classmethod
    def trust_overrides(cls) -> list[dict[str, Any]]:
        """The trust-anchor overrides made in this process (newest 32), oldest first, as plain data."""
        return [entry.to_dict() for entry in VERIFIER.trust_log.records()]

    # -- loading and activation ----------------------------------------------------------------------------
    def _load(self) -> None:
        found = find_configured_key()
        if found is None:
            return
        key, source = found
        try:
            self.activate(key)
        except (LicenseValidationError, LicenseExpiredError) as exc:
            logger.warning("ignoring the licence key from %s: %s; running as COMMUNITY", source, exc)

    def activate(self, key: str) -> License:
        """Verify ``key`` and make it this instance's licence; on error nothing changes."""
        epoch = VERIFIER.epoch
        grant = grant_for(key)
        lic = license_for(grant)
        self._license, self._grant, self._epoch = lic, grant, epoch
        logger.info("licence activated: %s tier for %r until %s", grant.tier.value, grant.owner, grant.expires)
        return lic

    def deactivate(self) -> None:
        """Clear the licence and the fixed tier (back to COMMUNITY)."""
        self._license = self._grant = None
        self._fixed_tier = None

    def _trusted(self, grant: Grant) -> bool:
        """Whether ``grant`` still holds under the trust anchor now in force (re-verified once after a change).

        ``configure()`` changes the anchor for the whole process; a licence that only the previous anchor accepted
        (an override key since replaced or removed, an unsigned key after legacy mode is turned off) is dropped
        with a warning, so neither the tier nor the audited trust record vouch for a key nobody trusts any more.
        """
        epoch = VERIFIER.epoch
        if epoch == self._epoch:
            return True
        try:
            authenticate(parse_key(grant.key))
        except LicenseValidationError as exc:
            if self._grant is grant:
                self._license = self._grant = None
            logger.warning("dropping the active licence: the licence trust anchor changed and %s", exc)
            return False
        self._epoch = epoch
        return True

    def _checked_license(self) -> License | None:
        grant = self._grant
        return self._license if grant is not None and self._trusted(grant) else None

    # -- tier ----------------------------------------------------------------------------------------------
    def _licensed_tier(self) -> LicenseTier | None:
        """The tier the active licence grants right now: None without one, or once its last day has ended.

        The signed grant decides. Edits to the ``License`` handed out can only narrow it (a lower ``tier``, an
        earlier ``expires_at``: the contract lets code mark a licence expired that way), never widen it.
        """
        lic, grant = self._license, self._grant
        if lic is None or grant is None or not self._trusted(grant):
            return None
        expires_at = lic.expires_at
        cached = self._deadline_for
        if cached is None or cached[0] is not grant or cached[1] is not expires_at:
            cached = (grant, expires_at, end_of_day_timestamp(min(grant.expires, expires_at.date())))
            self._deadline_for = cached
        if time.time() >= cached[2]:
            return None
        tier = lic.tier
        if tier is grant.tier:
            return tier
        return tier if isinstance(tier, LicenseTier) and tier < grant.tier else grant.tier

    def _tier_over(self, licensed: LicenseTier | None) -> LicenseTier:
        """The fixed tier, else ``licensed`` (what ``_licensed_tier()`` gave), else COMMUNITY."""
        return self._fixed_tier or licensed or LicenseTier.COMMUNITY  # members are truthy

    def _current_tier(self) -> LicenseTier:
        return self._tier_over(self._licensed_tier())

    @property
    def tier(self) -> LicenseTier:
        """The fixed tier, else the tier of an active unexpired licence, else COMMUNITY."""
        return self._current_tier()

    @property
    def current_tier(self) -> LicenseTier:
        """Same as ``tier``."""
        return self._current_tier()

    def get_tier(self) -> LicenseTier:
        """Same as ``tier``."""
        return self._current_tier()

    @property
    def license(self) -> License | None:
        """The active licence (the object ``activate()`` returned), or None. Editing it can narrow the licence, not
        widen it: the manager keeps what the key's signature vouches for apart. A licence that the trust anchor
        now in force rejects (see ``configure``) is dropped."""
        return self._checked_license()

    @property
    def limits(self) -> LicenseLimits:
        """A fresh copy of the current tier's limits (mutating it changes nothing else)."""
        return LICENSE_LIMITS[self._current_tier()].copy()

    # -- checks --------------------------------------------------------------------------------------------
    def has_tier(self, required: LicenseTier) -> bool:
        """True if the current tier is at least ``required`` and any licence is unexpired (COMMUNITY: always)."""
        if required is LicenseTier.COMMUNITY:
            return True
        licensed = self._licensed_tier()
        if licensed is None and self._license is not None:
            return False
        return self._tier_over(licensed) >= required

    def has_feature(self, name: str) -> bool:
        """True if the tier's feature set has ``"*"`` or ``name``, or the active licence lists ``name`` (a name
        that a tier decides counts from that list only if the licence's signed tier grants it)."""
        licensed = self._licensed_tier()
        features = LICENSE_LIMITS[self._tier_over(licensed)].features
        if "*" in features or name in features:
            return True
        lic = self._license
        if licensed is None or lic is None or name not in lic.features:
            return False
        return name in LICENSE_FEATURES[licensed] or name not in _TIER_FEATURES

    check_feature = has_feature

    def check_concurrent_limit(self, current: int) -> bool:
        """True if one more pipeline may start while ``current`` run."""
        return current < LICENSE_LIMITS[self._current_tier()].max_concurrent_pipelines

    def check_agents_limit(self, count: int) -> bool:
        """True if a pipeline may have ``count`` agents."""
        return count <= LICENSE_LIMITS[self._current_tier()].max_agents_per_pipeline

    def check_parallel_limit(self, count: int) -> bool:
        """True if ``count`` agents may run in parallel."""
        return count <= LICENSE_LIMITS[self._current_tier()].max_parallel_agents

    def check_limit(self, name: str, value: int) -> bool:
        """``value < limit`` for the numeric limit ``name``; True if there is no such numeric limit."""
        limit = getattr(LICENSE_LIMITS[self._current_tier()], name, None)
        if isinstance(limit, bool) or not isinstance(limit, int):
            return True
        return value < limit

    def enforce(self, cfg: ExecutorConfig) -> ExecutorConfig:
        """A new config equal to ``cfg`` but with ``max_concurrent`` capped at the tier's parallel-agent limit."""
        cap = LICENSE_LIMITS[self._current_tier()].max_parallel_agents
        return dataclasses.replace(cfg, max_concurrent=min(cfg.max_concurrent, cap))

    # -- reporting -----------------------------------------------------------------------------------------
    def get_limits(self) -> dict[str, Any]:
        """The current tier and its main numeric limits and features."""
        tier = self._current_tier()
        lim = LICENSE_LIMITS[tier]
        return {
            "tier": tier.value,
            "max_concurrent_pipelines": lim.max_concurrent_pipelines,
            "max_agents_per_pipeline": lim.max_agents_per_pipeline,
            "max_parallel_agents": lim.max_parallel_agents,
            "features": sorted(lim.features),
        }

    def get_info(self) -> dict[str, Any]:
        """Tier, licence summary, limits and feature flags as plain data."""
        lic = self._checked_license()
        tier = self._current_tier()
        lim = LICENSE_LIMITS[tier]
        return {
            "tier": tier.value,
            "license": lic.to_dict() if lic is not None else None,
            "limits": {
                "max_concurrent_pipelines": lim.max_concurrent_pipelines,
                "max_agents_per_pipeline": lim.max_agents_per_pipeline,
                "max_parallel_agents": lim.max_parallel_agents,
                "max_teams": lim.max_teams,
            },
            "features": {
                "process_mining": lim.process_mining,
                "audit_trail": lim.audit_trail,
                "multi_tenant": lim.multi_tenant,
                "postgres_store": lim.postgres_store,
                "human_interaction": lim.human_interaction,
            },
        }

    def print_status(self) -> None:
        """Print a short human-readable summary to stdout (the one place licensing prints, by contract)."""
        info = self.get_info()
        lines = [f"llmteam licence: {self._current_tier().display_name}"]
        lic, grant = self._checked_license(), self._grant
        if lic is not None and grant is not None:
            state = "EXPIRED" if lic.is_expired else f"{lic.days_remaining} days left"
            lines.append(f"  owner: {lic.owner}  expires: {lic.expires_at.date().isoformat()} ({state})")
            lines.append(f"  verified: {'yes' if grant.verified else 'NO (unsigned legacy key)'}")
        else:
            lines.append("  no licence key active")
        issuer = "pinned llmteam keys" if VERIFIER.public_key is None else "OVERRIDE (LicenseManager.configure)"
        keys = ", ".join(fingerprint(key) for key in VERIFIER.trusted_keys())
        lines.append(f"  issuer keys: {issuer}: {keys}")
        lines.extend(f"  {name}: {value}" for name, value in info["limits"].items())
        enabled = [name for name, on in info["features"].items() if on]
        lines.append(f"  features: {', '.join(enabled) if enabled else 'none beyond community'}")
        print("\n".join(lines))
