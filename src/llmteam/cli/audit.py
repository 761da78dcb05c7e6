"""``llmteam audit``: verify the tamper-evident log, export it, prove a record, sign a checkpoint.

Reading commands (``verify``, ``export``, ``prove``, ``checkpoint``) never create a database: a missing SQLite
file, an unknown tenant or an empty log is an error (exit 1), bad arguments exit 2, and no command prints a
traceback for bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from llmteam._files import atomic_text_writer
from llmteam.audit import AuditError, AuditLedger, AuditQuery, SigningKey
from llmteam.audit._report import iter_pages
from llmteam.audit._signing import default_key_path
from llmteam.audit.stores import open_audit_store
from llmteam.audit.verifier import CHECKPOINT_VERSION, VerificationError, as_checkpoint, load_public_key
from llmteam.backends.url import StoreURLError, parse_store_url
from llmteam.cli._errors import fail

app = typer.Typer(help="Inspect and prove the tamper-evident audit log.", no_args_is_help=True)

DEFAULT_DB = "sqlite:///./.llmteam/llmteam.db"
T = TypeVar("T")

DbOpt = typer.Option(DEFAULT_DB, "--db", help="audit store URL (memory://, sqlite:///file.db, postgresql://...)")
TenantOpt = typer.Option(None, "--tenant", help="one tenant (default: every tenant in the store)")
KeyOpt = typer.Option(None, "--signing-key", help="checkpoint key file (default: env or next to the database)")
JsonOpt = typer.Option(False, "--json", help="print JSON for scripts")


class CommandError(Exception):
    """A failure to report as one line (exit 1), or a usage error (exit 2)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _fail(message: str, code: int) -> NoReturn:
    fail(message, code)  # one line, or JSON with --json, like every command


def _sqlite_path(db: str) -> str | None:
    try:
        parsed = parse_store_url(db, allowed=("memory", "sqlite", "postgresql"))
    except StoreURLError as exc:
        raise CommandError(str(exc), 2) from None
    return parsed.path if parsed.scheme == "sqlite" else None


def _open_existing(db: str, *, open_store: bool = True) -> Any:
    """The store at ``db``; a SQLite file that does not exist is an error (never created by a reading command)."""
    path = _sqlite_path(db)
    if path is not None and (path == ":memory:" or not Path(path).is_file()):
        raise CommandError(f"no database at {path!r}; check --db (reading commands never create one)")
    return open_audit_store(db) if open_store else None


def refuse_missing_database(db: str) -> None:
    """For reading commands of any group: exit 1 (2 for a bad URL) unless the database at ``db`` already exists."""
    try:
        _open_existing(db, open_store=False)
    except CommandError as exc:
        _fail(str(exc), exc.code)


def _run(db: str, key: Path | None, body: Callable[[Any, AuditLedger], Awaitable[T]]) -> T:
    async def main() -> T:
        store = _open_existing(db)
        try:
            signing = SigningKey.load_or_create(key) if key else None
            return await body(store, AuditLedger(store, signing))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except CommandError as exc:
        _fail(str(exc), exc.code)
    except (AuditError, VerificationError, sqlite3.Error, OSError, RuntimeError, ValueError) as exc:
        _fail(f"{exc}", 1)  # ValueError: e.g. a stored checkpoint row that is not JSON


async def _tenants(store: Any, tenant: str | None) -> list[str]:
    known = await AuditLedger(store).tenants()  # with records, or with a checkpoint (their records may be gone)
    if tenant is None:
        if not known:
            raise CommandError("the audit log holds no records (wrong --db?)")
        return known
    if tenant not in known:
        hint = f"tenants with records: {', '.join(repr(t) for t in known[:10])}" if known else "the log is empty"
        raise CommandError(f"tenant {tenant!r} has no audit records in this database ({hint})")
    return [tenant]


def _read_public_key(path: Path) -> bytes:
    try:
        return load_public_key(path.read_bytes())
    except OSError as exc:
        _fail(f"cannot read --public-key {str(path)!r}: {exc.strerror or exc}", 2)
    except (ValueError, VerificationError) as exc:
        _fail(f"--public-key {str(path)!r} is not an Ed25519 public key (base64 of 32 bytes or PEM): {exc}", 2)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return dict(as_checkpoint(json.loads(path.read_text(encoding="utf-8"))))
    except OSError as exc:
        _fail(f"cannot read --checkpoint {str(path)!r}: {exc.strerror or exc}", 2)
    except (ValueError, VerificationError, RecursionError) as exc:
        _fail(f"--checkpoint {str(path)!r} is not a checkpoint JSON file: {exc}", 2)


def _deployment_public_key(db: str, signing_key: Path | None) -> bytes | None:
    """This deployment's public key, read (never created) from ``<key>.pub`` or the key file; None if absent."""
    path = signing_key or default_key_path(_sqlite_path(db))
    pub = Path(f"{path}.pub")
    if pub.is_file():
        return _read_public_key(pub)
    return SigningKey.load_or_create(path).public_key if path.is_file() else None


@app.command()
def verify(
    tenant: str | None = TenantOpt, db: str = DbOpt, signing_key: Path | None = KeyOpt,
    public_key: Path | None = typer.Option(None, "--public-key", help="trusted public key file (default: ours)"),
    checkpoint_file: Path | None = typer.Option(
        None, "--checkpoint", help="a checkpoint JSON you hold (from `llmteam audit checkpoint`): verify against it, "
        "not against the checkpoints stored in the database"),
    as_json: bool = JsonOpt,
) -> None:
    """Re-check every record and link, and that the log extends the latest (or your) signed checkpoint; exit 1 on
    any tampering, a missing database or an unknown tenant."""
    held = _read_checkpoint(checkpoint_file) if checkpoint_file else None
    if held is not None:
        if tenant is not None and tenant != held.get("tenant_id"):
            _fail(f"--checkpoint is for tenant {held.get('tenant_id')!r}, not --tenant {tenant!r}", 2)
        tenant = str(held.get("tenant_id"))
    try:
        pub = _read_public_key(public_key) if public_key else _deployment_public_key(db, signing_key)
    except CommandError as exc:
        _fail(str(exc), exc.code)

    async def body(store: Any, ledger: AuditLedger) -> list[Any]:
        out = []
        for t in await _tenants(store, tenant):
            cp = held if held is not None else await ledger.latest_checkpoint(t)
            if cp is not None and pub is None:
                raise CommandError("no public key to check the signed checkpoint with; pass --public-key FILE")
            out.append(await ledger.verify(t, cp, pub))
        return out

    results = _run(db, None, body)  # verifying only reads the public key: never create a signing key here
    if as_json:
        typer.echo(json.dumps([{**r.__dict__, "ok": r.ok} for r in results], default=str, indent=2))
    else:
        table = Table("tenant", "records checked", "tree size", "checkpoint", "first broken link", "result")
        for r in results:
            cp = f"size {r.checkpoint['tree_size']} root {str(r.checkpoint['root_hash'])[:16]}…" if r.checkpoint \
                else "none"
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
    """Write every record of the chain (page by page, in sequence order) as JSON lines or CSV."""
    if fmt not in ("jsonl", "csv"):
        _fail(f"--format {fmt!r} is not supported; use jsonl or csv", 2)

    async def body(store: Any, ledger: AuditLedger) -> int:
        tenants = await _tenants(store, tenant)
        with atomic_text_writer(out) if out else contextlib.nullcontext(sys.stdout) as fh:
            return await _write_export(store, tenants, fmt, fh)

    n = _run(db, None, body)
    if out:
        Console(stderr=True).print(f"exported {n} records to {out}")


async def _write_export(store: Any, tenants: list[str], fmt: str, fh: Any) -> int:
    """Write the tenants' records to ``fh`` page by page; the number written."""
    count = 0
    writer: Any = None
    for t in tenants:
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
    return count


@app.command()
def prove(
    seq: int = typer.Argument(..., help="sequence number of the record (1 is the tenant's first)"),
    tenant: str = typer.Option("default", "--tenant"), db: str = DbOpt, signing_key: Path | None = KeyOpt,
) -> None:
    """Print an inclusion proof (JSON) for one record, checkable with `python -m llmteam.audit.verifier`."""
    if seq < 1:
        _fail(f"sequence number {seq} does not exist: a tenant's records are numbered from 1", 2)

    async def body(store: Any, ledger: AuditLedger) -> dict[str, Any]:
        await _tenants(store, tenant)
        last = int(await store.get_last_sequence(tenant))
        if seq > last:
            raise CommandError(f"tenant {tenant!r} has {last} audit records (1..{last}); there is no record {seq}")
        cp = await ledger.latest_checkpoint(tenant)
        if cp is None or cp.get("version") != CHECKPOINT_VERSION or int(cp["tree_size"]) < seq:
            cp = await ledger.checkpoint(tenant)
        return await ledger.prove_inclusion(tenant, seq, cp)

    typer.echo(json.dumps(_run(db, signing_key, body), indent=2, ensure_ascii=False, default=str))


@app.command()
def checkpoint(
    tenant: str | None = TenantOpt, db: str = DbOpt, signing_key: Path | None = KeyOpt,
    consistency_from: int | None = typer.Option(
        None, "--consistency-from", min=0,
        help="also prove the log extends an older checkpoint of this size (default: the last stored one)"),
) -> None:
    """Sign and store each tenant's tree head; print it (JSON) with a consistency proof from an older one.

    The output (one object with --tenant, else a list) is what `python -m llmteam.audit.verifier` reads.
    """
    if consistency_from is not None and tenant is None:
        _fail("--consistency-from needs --tenant (sizes are per tenant)", 2)

    async def body(store: Any, ledger: AuditLedger) -> list[dict[str, Any]]:
        out = []
        for t in await _tenants(store, tenant):
            previous = await ledger.latest_checkpoint(t)
            cp = await ledger.checkpoint(t)
            base = consistency_from if consistency_from is not None else (
                int(previous["tree_size"]) if previous is not None else None)
            if base is not None and base > int(cp["tree_size"]):
                raise CommandError(f"--consistency-from {base} is larger than tenant {t!r}'s log ({cp['tree_size']})")
            item: dict[str, Any] = {"checkpoint": cp}
            if base is not None:
                item["consistency"] = await ledger.prove_consistency(t, base, int(cp["tree_size"]))
            out.append(item)
        return out

    items = _run(db, signing_key, body)
    typer.echo(json.dumps(items[0] if tenant else items, indent=2))


@app.command("public-key")
def public_key_cmd(db: str = DbOpt, signing_key: Path | None = KeyOpt) -> None:
    """Print the base64 public key that verifies this deployment's checkpoints."""
    try:
        path = signing_key or default_key_path(_sqlite_path(db))
        typer.echo(SigningKey.load_or_create(path).public_key_b64)
    except CommandError as exc:
        _fail(str(exc), exc.code)
    except (AuditError, OSError) as exc:
        _fail(str(exc), 1)
