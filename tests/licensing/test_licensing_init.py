"""Package-level guarantees: exports, lazy cryptography, no other llmteam module, no signing code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import llmteam.licensing as licensing

SRC = Path(licensing.__file__).parent


def test_all_exports_exist() -> None:
    expected = {
        "LicenseTier", "LicenseLimits", "LICENSE_LIMITS", "TIER_LIMITS", "License", "LicenseManager",
        "get_license_manager", "activate", "get_tier", "has_feature", "print_license_status",
        "LicenseValidationError", "LicenseExpiredError", "FeatureNotLicensedError", "require_tier",
        "require_professional", "require_enterprise", "professional_only", "enterprise_only", "check_builtin_gate",
    }
    assert expected <= set(licensing.__all__)
    for name in licensing.__all__:
        assert hasattr(licensing, name), name


def test_import_is_light() -> None:
    code = (
        "import sys, json, llmteam.licensing as L; "
        "L.LicenseManager().has_feature('basic'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('llmteam', 'cryptography', 'asyncpg', "
        "'redis', 'httpx')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    loaded = json.loads(out.stdout)
    # llmteam._exceptions is the error root (the ground floor: stdlib only), which licensing's errors derive from
    allowed = ("llmteam", "llmteam._exceptions")
    assert all(m in allowed or m.startswith("llmteam.licensing") for m in loaded), loaded


def test_verifier_never_references_private_keys_or_signing() -> None:
    forbidden = ("private", "Ed25519PrivateKey", ".sign(", "PrivateFormat", "load_pem", "generate(")
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for word in forbidden:
            assert word not in text, f"{path.name} mentions {word!r}: signing belongs to the issuer CLI only"
