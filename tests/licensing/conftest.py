"""Licensing test fixtures: a throw-away issuer key pair and legacy mode switched off around every test."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmteam.cli._license_issuer import sign_key
from llmteam.licensing import LicenseManager


class Issuer:
    """Signs keys with its own private key; ``public_raw``/``public_b64`` verify them."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public_raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_b64 = base64.b64encode(self.public_raw).decode()

    def key(self, tier: str = "PRO", owner: str = "ACME", expires: date = date(2099, 12, 31)) -> str:
        return sign_key(self.private, tier, owner, expires)


@pytest.fixture(autouse=True)
def _legacy_mode_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LLMTEAM_LICENSE_ALLOW_UNSIGNED", raising=False)
    LicenseManager.configure(allow_unsigned=False)
    yield
    LicenseManager.configure(allow_unsigned=False)


@pytest.fixture(scope="session")
def issuer_keys() -> Issuer:
    return Issuer()


@pytest.fixture
def issuer(issuer_keys: Issuer) -> Issuer:
    """An issuer whose public key is configured for this test (conftest clears it afterwards)."""
    LicenseManager.configure(public_key=issuer_keys.public_raw)
    return issuer_keys
