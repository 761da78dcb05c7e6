"""``llmteam license``: show the active licence, and (issuer side) generate key pairs and issue signed keys."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from llmteam.cli._errors import fail
from llmteam.cli._license_issuer import IssuerError, generate_keypair, load_private_key, sign_key

app = typer.Typer(help="Licence status, and issuing signed licence keys.", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    fail(message, 1)  # one line, or JSON with --json, like every command


def _parse_day(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise IssuerError(f"invalid --expires {text!r}: use YYYY-MM-DD, e.g. 2027-12-31")


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key pair.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key pair.")] = False,
) -> None:
    """Generate an Ed25519 key pair: private key (mode 0600) and public key; print the base64 public key."""
    try:
        pair = generate_keypair(out, force=force)
    except (IssuerError, OSError) as exc:
        _fail(str(exc))
        return
    err = Console(stderr=True)  # paths are the user's text, never markup
    err.print(f"private key: {pair.private_key_path} (mode 0600, keep it secret)",
              markup=False, highlight=False, soft_wrap=True)
    err.print(f"public key:  {pair.public_key_path} (pin it in llmteam/licensing/_trust.py, or pass it explicitly: "
              "LicenseManager.configure(public_key=...) / llmteam license status --public-key)",
              markup=False, highlight=False, soft_wrap=True)
    typer.echo(pair.public_key_b64)


@app.command()
def issue(
    tier: Annotated[str, typer.Option("--tier", help="COM, PRO or ENT.")],
    owner: Annotated[str, typer.Option("--owner", help="Owner id: A-Z, 0-9, _ (1-64).")],
    expires: Annotated[str, typer.Option("--expires", help="Last valid day, YYYY-MM-DD.")],
    private_key: Annotated[Path, typer.Option("--private-key", help="PEM file written by keygen.")],
) -> None:
    """Print a licence key signed with the private key."""
    try:
        day = _parse_day(expires)
        if day < date.today():
            raise IssuerError(f"--expires {day.isoformat()} is in the past; a key is valid through its expiry day")
        key = sign_key(load_private_key(private_key), tier, owner, day)
    except IssuerError as exc:
        _fail(str(exc))
        return
    typer.echo(key)


def _status_data(public_key: str | None = None) -> dict[str, Any]:
    from llmteam.licensing import LicenseManager, get_license_manager
    from llmteam.licensing._activation import build_license, find_configured_key

    if public_key is not None:  # an explicit override of the pinned issuer keys: logged and shown as such
        try:
            LicenseManager.configure(public_key=public_key, source="llmteam license status --public-key")
        except ValueError as exc:
            _fail(f"--public-key: {exc}")
        LicenseManager.reset()
    manager = get_license_manager()
    lic = manager.license
    data: dict[str, Any] = {
        "tier": manager.tier.value,
        "owner": lic.owner if lic else None,
        "expires_at": lic.expires_at.date().isoformat() if lic else None,
        "days_remaining": lic.days_remaining if lic else None,
        "expired": lic.is_expired if lic else None,
        "verified": lic.verified if lic else None,
        "features": sorted(manager.limits.features | set(lic.features if lic else ())),
        "trust": LicenseManager.trust(),
        "problem": None,
    }
    if lic is None:
        found = find_configured_key()
        if found is not None:
            key, source = found
            try:
                build_license(key)
            except Exception as exc:
                data["problem"] = f"licence key from {source} ignored: {exc}"
    return data


@app.command()
def status(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    public_key: Annotated[str | None, typer.Option(
        "--public-key", help="Trust this issuer key (base64) instead of the pinned ones; logged as an override.",
    )] = None,
) -> None:
    """Show the active tier, owner, expiry, days left, features and the issuer keys licences are checked against."""
    data = _status_data(public_key)
    if json_output:
        typer.echo(json.dumps(data, indent=2))
        return
    # Every cell is a Text, never parsed as markup: values come from key files, the environment and errors.
    table = Table(title="llmteam licence", show_header=False)
    table.add_row("tier", Text(data["tier"]))
    if data["owner"] is not None:
        table.add_row("owner", Text(data["owner"]))
        state = "EXPIRED" if data["expired"] else f"{data['days_remaining']} days left"
        table.add_row("expires", Text(f"{data['expires_at']} ({state})"))
        table.add_row("verified", "yes" if data["verified"] else "no (unsigned legacy key)")
    else:
        table.add_row("licence", "none active (community)")
    table.add_row("features", Text(", ".join(data["features"])))
    trust = data["trust"]
    issuer = Text("pinned llmteam issuer") if trust["issuer"] == "pinned" else Text("OVERRIDE", style="yellow")
    table.add_row("issuer keys", Text.assemble(issuer, ": " + ", ".join(trust["keys"])))
    console = Console()
    console.print(table)
    if data["problem"]:
        console.print(Text(data["problem"], style="yellow"), highlight=False)
