"""llmteam.config: every LLMTEAM_* variable parsed in one place, one way, and documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmteam.config import VARIABLES, Settings, audit_hmac_key, settings

ROOT = Path(__file__).resolve().parents[1]
# reads that stay outside config.py: licensing (imports no other llmteam module; its owners are moving the trust
# anchor out of the environment), the standalone verifier (stdlib only by design), a team file's api_key_env
# and the API-key variables a team file may name (both variables the operator names, not LLMTEAM_* settings)
ALLOWED_READERS = {"config.py", "audit/verifier.py", "team/_spec.py", "team/_key_envs.py"}


def test_defaults_when_nothing_is_set() -> None:
    assert Settings.from_env({}) == Settings()


def test_parsing() -> None:
    s = Settings.from_env({
        "LLMTEAM_BASE_URL": " http://localhost:11434/v1 ", "OPENAI_MODEL": "llama3.1", "LLMTEAM_API_KEY": "",
        "OPENAI_API_KEY": "sk-x", "LLMTEAM_AUDIT_HMAC_KEY": "k\u00e9y", "LLMTEAM_AUDIT_SIGNING_KEY": "~/k.pem",
        "LLMTEAM_LICENSE_ENFORCE": " 1 ",
    })
    assert s.base_url == "http://localhost:11434/v1" and s.model == "llama3.1" and s.api_key == "sk-x"
    assert s.audit_hmac_key == "k\u00e9y".encode() and s.audit_signing_key == Path("~/k.pem").expanduser()
    assert s.license_enforce is True


@pytest.mark.parametrize("value", ["0", "true", "yes", "", "2"])
def test_license_enforce_is_only_1(value: str) -> None:
    assert Settings.from_env({"LLMTEAM_LICENSE_ENFORCE": value}).license_enforce is False


def test_enforce_parsed_like_the_licensing_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmteam.team._licence import LicenceCheck

    monkeypatch.setenv("LLMTEAM_LICENSE_ENFORCE", " 1 ")  # the gate strips; the runtime used not to
    assert LicenceCheck().enforce is True and settings().license_enforce is True


def test_the_environment_is_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_AUDIT_HMAC_KEY", "one")
    assert audit_hmac_key() == b"one"
    monkeypatch.setenv("LLMTEAM_AUDIT_HMAC_KEY", "two")
    assert audit_hmac_key() == b"two" == settings().audit_hmac_key
    monkeypatch.delenv("LLMTEAM_AUDIT_HMAC_KEY")
    assert audit_hmac_key() is None


def test_nothing_else_reads_the_environment() -> None:
    src = ROOT / "src" / "llmteam"
    readers = {
        str(p.relative_to(src)) for p in src.rglob("*.py")
        if re.search(r"os\.environ|getenv\(", p.read_text(encoding="utf-8"))
    }
    assert {r for r in readers if not r.startswith("licensing/")} <= ALLOWED_READERS


def test_readme_documents_every_variable() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in VARIABLES:
        assert f"`{name}`" in readme, name
