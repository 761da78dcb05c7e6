from __future__ import annotations

import errno
import json
import os
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.cli import _license_issuer, app
from llmteam.cli._license_issuer import _public_b64, load_private_key
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


def _pair_matches(keys: Path) -> bool:
    """The public key file holds the public half of the private key file."""
    private = load_private_key(keys / "license_private.pem")
    return (keys / "license_public.key").read_text().strip() == _public_b64(private)


@pytest.mark.parametrize("name", ["license_public.key", "license_private.pem"])
def test_keygen_never_writes_through_a_planted_symlink(name: str, tmp_path: Path) -> None:
    """A dangling symlink planted at a key file name made keygen create (and --force overwrite) its target."""
    keys, victim = tmp_path / "keys", tmp_path / "victim.txt"
    keys.mkdir()
    (keys / name).symlink_to(victim)
    refused = runner.invoke(app, ["license", "keygen", "--out", str(keys)])
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert not victim.exists() and sorted(p.name for p in keys.iterdir()) == [name]  # nothing written at all
    forced = runner.invoke(app, ["license", "keygen", "--out", str(keys), "--force"])
    assert forced.exit_code == 0, forced.output
    assert not victim.exists() and not (keys / name).is_symlink() and _pair_matches(keys)
    victim.write_text("precious\n")
    (keys / name).unlink()
    (keys / name).symlink_to(victim)
    assert runner.invoke(app, ["license", "keygen", "--out", str(keys), "--force"]).exit_code == 0
    assert victim.read_text() == "precious\n" and _pair_matches(keys)


def test_keygen_refusal_leaves_no_half_pair(tmp_path: Path) -> None:
    """A public key that could not be written left the private key behind; a re-run then refused for good."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "license_public.key").symlink_to(tmp_path / "no_such_dir" / "x")
    assert runner.invoke(app, ["license", "keygen", "--out", str(keys)]).exit_code == 1
    assert not (keys / "license_private.pem").exists()
    (keys / "license_public.key").unlink()
    assert runner.invoke(app, ["license", "keygen", "--out", str(keys)]).exit_code == 0 and _pair_matches(keys)


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("step", ["write", "place"])
def test_a_keygen_that_fails_midway_leaves_what_was_there(step: str, force: bool, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys"
    if force:
        _keygen(tmp_path)
    before = {p.name: p.read_bytes() for p in keys.iterdir()} if force else {}
    name = "create_exclusive" if step == "write" else "_place"
    real = getattr(_license_issuer, name)
    calls: list[object] = []

    def second_fails(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(*args, **kwargs)

    monkeypatch.setattr(_license_issuer, name, second_fails)
    result = runner.invoke(app, ["license", "keygen", "--out", str(keys), *(["--force"] if force else [])])
    assert result.exit_code == 1 and "No space left" in result.output
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before  # the old pair (or nothing), no temp files


def test_keygen_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File systems without hard links (FAT) still get a pair, and still never one through a planted link."""

    def no_links(src: object, dst: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    private, public_b64 = _keygen(tmp_path)
    assert _pair_matches(private.parent)
    (private.parent / "license_public.key").unlink()
    (private.parent / "license_public.key").symlink_to(tmp_path / "victim")
    assert runner.invoke(app, ["license", "keygen", "--out", str(private.parent), "--force"]).exit_code == 0
    assert not (tmp_path / "victim").exists() and _pair_matches(private.parent)


def test_status_prints_key_text_with_markup_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key (env or ./license.key) with rich markup in it crashed `license status` with a MarkupError."""
    monkeypatch.setenv("LLMTEAM_LICENSE_KEY", "LLMT-PRO-[/]-20270101")
    result = runner.invoke(app, ["license", "status"])
    assert result.exit_code == 0, result.output
    assert "invalid owner '[/]'" in " ".join(result.stdout.split())


def test_keygen_prints_an_out_path_with_markup_as_text(tmp_path: Path) -> None:
    out = tmp_path / "keys[/]v1[bold]"
    result = runner.invoke(app, ["license", "keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out / "license_private.pem") in result.stderr and str(out / "license_public.key") in result.stderr
    assert result.stdout.strip() == (out / "license_public.key").read_text().strip()
