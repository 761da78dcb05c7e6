from __future__ import annotations

from datetime import datetime, timedelta

from llmteam.licensing import License, LicenseTier


def _lic(expires: datetime) -> License:
    return License("LLMT-PRO-ACME-20991231-XYZ", LicenseTier.PROFESSIONAL, "ACME", "", expires, datetime.now())


def test_valid_through_end_of_expiry_day() -> None:
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert not _lic(today).is_expired
    assert _lic(today).days_remaining == 0
    assert _lic(today - timedelta(days=1)).is_expired
    assert _lic(today - timedelta(days=1)).days_remaining == 0
    assert _lic(today + timedelta(days=30)).days_remaining == 30


def test_defaults_and_to_dict() -> None:
    lic = _lic(datetime(2099, 12, 31))
    assert lic.features == [] and lic.limits == {} and lic.verified is False
    other = _lic(datetime(2099, 12, 31))
    lic.features.append("x")
    assert other.features == []
    d = lic.to_dict()
    assert d == {
        "key": "LLMT-PRO-A...", "tier": "professional", "owner": "ACME", "expires_at": "2099-12-31T00:00:00",
        "days_remaining": lic.days_remaining, "features": ["x"],
    }
