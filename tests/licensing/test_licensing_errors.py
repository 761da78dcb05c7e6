from __future__ import annotations

import pickle

from llmteam.licensing import FeatureNotLicensedError, LicenseExpiredError, LicenseTier, LicenseValidationError


def test_hierarchy() -> None:
    for exc in (LicenseValidationError, LicenseExpiredError, FeatureNotLicensedError):
        assert issubclass(exc, Exception)


def test_feature_not_licensed_keeps_fields_and_names_them() -> None:
    err = FeatureNotLicensedError("TenantManager", LicenseTier.ENTERPRISE)
    assert err.feature == "TenantManager" and err.required_tier is LicenseTier.ENTERPRISE
    assert "TenantManager" in str(err) and "enterprise" in str(err).lower()
    copy = pickle.loads(pickle.dumps(err))
    assert copy.feature == "TenantManager" and copy.required_tier is LicenseTier.ENTERPRISE
