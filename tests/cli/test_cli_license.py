from __future__ import annotations

import json
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.cli import app
from llmteam.licensing import LicenseManager, LicenseTier

runner = CliRunner()


def _keygen(tmp_path: Path) -> tuple[Path, str]:
    result = runner.invoke(app, ["license", "keygen", "--out", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    return tmp_path / "keys" / "license_private.pem", result.stdout.strip().splitlines()[-1]


def test_keygen_writes_private_key_0600_and_prints_public_key(tmp_path: Path) -> None:
    private, public_b64 = _keygen(tmp_path)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / "license_public.key").read_text().strip() == public_b64
    again = runner.invoke(app, ["license", "keygen", "--out", str(tmp_path / "keys")])
    assert again.exit_code == 1 and "already exists" in again.output
    forced = runner.invoke(app, ["license", "keygen", "--out", str(tmp_path / "keys"), "--force"])
    assert forced.exit_code == 0 and forced.stdout.strip().splitlines()[-1] != public_b64


def test_issue_prints_a_key_that_verifies(tmp_path: Path) -> None:
    private, public_b64 = _keygen(tmp_path)
    result = runner.invoke(app, ["license", "issue", "--tier", "PRO", "--owner", "acme", "--expires", "2099-12-31",
                                 "--private-key", str(private)])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("LLMT-PRO-ACME-20991231-")
    LicenseManager.configure(public_key=public_b64)
    lic = LicenseManager().activate(key)
    assert lic.tier is LicenseTier.PROFESSIONAL and lic.verified


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tier", "GOLD"], "unknown tier 'GOLD'"),
        (["--owner", "ac-me"], "invalid owner 'ac-me'"),
        (["--expires", "31/12/2099"], "invalid --expires '31/12/2099'"),
        (["--expires", (date.today() - timedelta(days=1)).isoformat()], "in the past"),
        (["--private-key", "/nonexistent/key.pem"], "cannot read private key"),
    ],
)
def test_issue_rejects_bad_input(args: list[str], message: str, tmp_path: Path) -> None:
    private, _ = _keygen(tmp_path)
    base = {"--tier": "ENT", "--owner": "ACME", "--expires": "2099-12-31", "--private-key": str(private)}
    base.update(dict(zip(args[::2], args[1::2])))
    result = runner.invoke(app, ["license", "issue", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 1 and message in result.output


def test_issue_rejects_a_non_key_file(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("hello")
    result = runner.invoke(app, ["license", "issue", "--tier", "PRO", "--owner", "A", "--expires", "2099-01-01",
                                 "--private-key", str(bogus)])
    assert result.exit_code == 1 and "not an unencrypted PEM private key" in result.output


def test_status_community(tmp_path: Path) -> None:
    result = runner.invoke(app, ["license", "status", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["tier"] == "community" and data["owner"] is None and data["problem"] is None
    assert "basic" in data["features"]
    plain = runner.invoke(app, ["license", "status"])
    assert plain.exit_code == 0 and "community" in plain.stdout


def test_status_with_active_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private, public_b64 = _keygen(tmp_path)
    key = runner.invoke(app, ["license", "issue", "--tier", "ENT", "--owner", "BIGCO", "--expires", "2099-12-31",
                              "--private-key", str(private)]).stdout.strip()
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", key)
    monkeypatch.setenv("LLMTEAM_LICENSE_PUBLIC_KEY", public_b64)  # ignored: the trust anchor is not in the env
    data = json.loads(runner.invoke(app, ["license", "status", "--json"]).stdout)
    assert data["tier"] == "community" and "pinned llmteam issuer keys" in data["problem"]
    LicenseManager.reset()
    data = json.loads(runner.invoke(app, ["license", "status", "--json", "--public-key", public_b64]).stdout)
    assert (data["tier"], data["owner"], data["expires_at"], data["verified"]) == (
        "enterprise", "BIGCO", "2099-12-31", True,
    )
    assert data["days_remaining"] > 0 and "*" in data["features"] and data["trust"]["issuer"] == "override"
    LicenseManager.reset()
    plain = runner.invoke(app, ["license", "status", "--public-key", public_b64]).stdout
    assert "BIGCO" in plain and "2099-12-31" in plain and "days left" in plain and "OVERRIDE" in plain


def test_status_rejects_a_malformed_public_key() -> None:
    result = runner.invoke(app, ["license", "status", "--public-key", "abc"])
    assert result.exit_code == 1 and "--public-key" in result.output and "Traceback" not in result.output


def test_status_explains_an_ignored_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", "LLMT-PRO-ACME-20991231")
    data = json.loads(runner.invoke(app, ["license", "status", "--json"]).stdout)
    assert data["tier"] == "community" and "signature" in data["problem"]
    assert "LLMTEAM_LICENSE_KEY" in data["problem"]


def test_status_shows_a_perpetual_licence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key expiring 9999-12-31 (issue accepts it) crashed status with 'year 10000 is out of range'."""
    private, public_b64 = _keygen(tmp_path)
    key = runner.invoke(app, ["license", "issue", "--tier", "ENT", "--owner", "FOREVER", "--expires", "9999-12-31",
                              "--private-key", str(private)]).stdout.strip()
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", key)
    result = runner.invoke(app, ["license", "status", "--json", "--public-key", public_b64])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["tier"], data["owner"], data["expires_at"], data["expired"]) == (
        "enterprise", "FOREVER", "9999-12-31", False,
    )
    LicenseManager.reset()
    plain = runner.invoke(app, ["license", "status", "--public-key", public_b64])
    assert plain.exit_code == 0 and "9999-12-31" in plain.stdout and "days left" in plain.stdout
