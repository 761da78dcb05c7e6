"""Licence tiers, offline-verified licence keys and feature gating.

Three tiers (``LicenseTier``: COMMUNITY < PROFESSIONAL < ENTERPRISE) each come with limits and features
(``LICENSE_LIMITS``, read-only). A ``LicenseManager`` holds one instance's tier: a fixed one, or the tier of an
activated licence key, else COMMUNITY. ``get_license_manager()`` returns the process-wide one, which loads
``LLMTEAM_LICENSE_KEY`` or ``~/.llmteam/license.key`` / ``./.llmteam/license.key`` / ``./license.key``.

Keys look like ``LLMT-PRO-ACME-20271231-<SIG>``: SIG is an Ed25519 signature checked offline against the issuer
keys pinned in the distribution; only ``LicenseManager.configure(public_key=...)`` overrides them (logged, audited),
never the environment. This package only verifies; keys are issued by ``llmteam license issue``. Unsigned legacy
keys are refused unless ``configure(allow_unsigned=True)``; they then activate ``verified=False`` as COMMUNITY.

    from llmteam.licensing import LicenseManager, LicenseTier, require_professional
    mgr = LicenseManager()                      # loads a key if one is configured
    mgr.activate("LLMT-PRO-ACME-20271231-...")  # LicenseValidationError / LicenseExpiredError on a bad key
    mgr.has_feature("process_mining")

Decorators (``require_tier``, ``professional_only``...) always enforce; built-in classes are gated only when
``LLMTEAM_LICENSE_ENFORCE=1`` (``check_builtin_gate``).
"""

from llmteam.licensing._errors import FeatureNotLicensedError, LicenseExpiredError, LicenseValidationError
from llmteam.licensing._gates import (
    activate,
    check_builtin_gate,
    enterprise_only,
    get_license_manager,
    get_tier,
    has_feature,
    licensed_by,
    print_license_status,
    professional_only,
    require_enterprise,
    require_professional,
    require_tier,
)
from llmteam.licensing._license import License
from llmteam.licensing._manager import LicenseManager
from llmteam.licensing._tiers import LICENSE_LIMITS, TIER_LIMITS, LicenseLimits, LicenseTier

__all__ = [
    "LICENSE_LIMITS",
    "TIER_LIMITS",
    "FeatureNotLicensedError",
    "License",
    "LicenseExpiredError",
    "LicenseLimits",
    "LicenseManager",
    "LicenseTier",
    "LicenseValidationError",
    "activate",
    "check_builtin_gate",
    "enterprise_only",
    "get_license_manager",
    "get_tier",
    "has_feature",
    "licensed_by",
    "print_license_status",
    "professional_only",
    "require_enterprise",
    "require_professional",
    "require_tier",
]
