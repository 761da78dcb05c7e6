"""``llmteam audit``: verify the tamper-evident log, export it, prove a record, sign a checkpoint."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from llmteam.audit import AuditLedger, AuditQuery, SigningKey
from llmteam.audit._report import iter_pages
from llmteam.audit._signing import default_key_path
from llmteam.audit.stores import open_audit_store
from llmteam.audit.verifier import load_public_key

app = typer.Typer(help="Inspect and prove the tamper-evident audit log.", no_args_is_help=True)

DEFAULT_DB = "sqlite:///./.llmteam/llmteam.db"
T = TypeVar("T")

DbOpt = typer.Option(DEFAULT_DB, "--db", help="audit store URL (memory://, sqlite:///file.db, postgresql://...)")
TenantOpt = typer.Option(None, "--tenant", help="one tenant (default: every tenant in the store)")
KeyOpt = typer.Option(None, "--signing-key", help="checkpoint key file (default: env or next to the database)")
JsonOpt = typer.Option(False, "--json", help="print JSON for scripts")


def _run(db: str, key: Path | None, body: Callable[[Any, AuditLedger], Awaitable[T]]) -> T:
    async def main() -> T:
        store = open_audit_store(db)
        try:
            signing = SigningKey.load_or_create(key) if key else None
            return await body(store, AuditLedger(store, signing))
        finally:
            await store.close()

    return asyncio.run(main())


async def _tenants(store: Any, tenant: str | None) -> list[str]:
    return [tenant] if tenant else list(await store.tenants())


@app.command()
def verify(
    tenant: str | None = TenantOpt, db: str = DbOpt, signing_key: Path | None = KeyOpt,
    public_key: Path | None = typer.Option(None, "--public-key", help="trusted public key file (default: ours)"),
    as_json: bool = JsonOpt,
) -> None:
    """Re-check every record, link and the latest signed checkpoint; exit 1 on any tampering."""

    pub = load_public_key(public_key.read_bytes()) if public_key else None

    async def body(store: Any, ledger: AuditLedger) -> list[Any]:
        out = []
        for t in await _tenants(store, tenant):
            cp = await ledger.latest_checkpoint(t)
            out.append(await ledger.verify(t, cp, pub))
        return out

    results = _run(db, signing_key, body)
    if as_json:
        typer.echo(json.dumps([{**r.__dict__, "ok": r.ok} for r in results], default=str, indent=2))
    else:
        table = Table("tenant", "records checked", "tree size", "checkpoint", "first broken link", "result")
        for r in results:
            cp = f"size {r.checkpoint['tree_size']} root {r.checkpoint['root_hash'][:16]}…" if r.checkpoint else "none"
            broken = str(r.first_broken) if r.first_broken is not None else (str(r.missing[0]) if r.missing else "-")
            table.add_row(r.tenant_id, str(r.records_checked), str(r.tree_size), cp, broken,
                          "ok" if r.ok else "TAMPERED: " + "; ".join(r.problems))
        Console().print(table)
    if any(not r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def export(
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv"),
    out: Path | None = typer.Option(None, "--out", help="file to write (default: stdout)"),
    tenant: str | None = TenantOpt, db: str = DbOpt,
) -> None:
    """Write every record (page by page, in sequence order) as JSON lines or CSV."""
    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter(f"--format {fmt!r} is not supported; use jsonl or csv")

    async def body(store: Any, ledger: AuditLedger) -> int:
        fh = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        count = 0
        try:
            writer: Any = None
            for t in await _tenants(store, tenant):
                async for page in iter_pages(store, AuditQuery(tenant_id=t)):
                    for rec in page:
                        d = rec.to_dict()
                        if fmt == "jsonl":
                            fh.write(json.dumps(d, ensure_ascii=False, default=str) + "\n")
                        else:
                            if writer is None:
                                writer = csv.DictWriter(fh, fieldnames=list(d))
                                writer.writeheader()
                            writer.writerow({k: json.dumps(v, default=str) if isinstance(v, (dict, list)) or v is None
                                             else v for k, v in d.items()})
                        count += 1
        finally:
            if out:
                fh.close()
        return count

    n = _run(db, None, body)
    if out:
        Console(stderr=True).print(f"exported {n} records to {out}")


@app.command()
def prove(
    seq: int = typer.Argument(..., help="sequence number of the record"),
    tenant: str = typer.Option("default", "--tenant"), db: str = DbOpt, signing_key: Path | None = KeyOpt,
) -> None:
    """Print an inclusion proof (JSON) for one record, checkable with llmteam.audit.verifier."""

    async def body(store: Any, ledger: AuditLedger) -> dict[str, Any]:
        cp = await ledger.latest_checkpoint(tenant)
        if cp is None or int(cp["tree_size"]) < seq:
            cp = await ledger.checkpoint(tenant)
        return await ledger.prove_inclusion(tenant, seq, cp)

    typer.echo(json.dumps(_run(db, signing_key, body), indent=2, ensure_ascii=False, default=str))


@app.command()
def checkpoint(tenant: str | None = TenantOpt, db: str = DbOpt, signing_key: Path | None = KeyOpt) -> None:
    """Sign and store each tenant's tree head; print it (JSON) with a consistency proof from the previous one."""

    async def body(store: Any, ledger: AuditLedger) -> list[dict[str, Any]]:
        out = []
        for t in await _tenants(store, tenant):
            previous = await ledger.latest_checkpoint(t)
            cp = await ledger.checkpoint(t)
            item: dict[str, Any] = {"checkpoint": cp}
            if previous is not None:
                item["consistency"] = await ledger.prove_consistency(t, int(previous["tree_size"]), cp["tree_size"])
            out.append(item)
        return out

    items = _run(db, signing_key, body)
    typer.echo(json.dumps(items[0] if tenant else items, indent=2))


@app.command("public-key")
def public_key_cmd(db: str = DbOpt, signing_key: Path | None = KeyOpt) -> None:
    """Print the base64 public key that verifies this deployment's checkpoints."""
    path = signing_key or default_key_path(_sqlite_path(db))
    typer.echo(SigningKey.load_or_create(path).public_key_b64)


def _sqlite_path(db: str) -> str | None:
    from llmteam._backends.url import parse_store_url

    parsed = parse_store_url(db)
    return parsed.path if parsed.scheme == "sqlite" else None
