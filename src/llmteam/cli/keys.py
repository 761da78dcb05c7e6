"""``llmteam keys create|list|revoke``: API keys for ``llmteam serve``; the token is printed once, never stored.

Every change is audited in the key's tenant chain with ``cli:<OS user>`` as the actor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from llmteam.audit import AuditTrail
from llmteam.audit.stores import open_audit_store
from llmteam.cli._errors import fail
from llmteam.cli.team import DbOpt, JsonOpt, print_json, run_command
from llmteam.server import APIKeyError, KeyManager, cli_actor, parse_duration
from llmteam.server.stores import open_key_store

T = TypeVar("T")
app = typer.Typer(help="Create, list and revoke API keys for `llmteam serve`.", no_args_is_help=True)


def _with_manager(db: str, body: Callable[[KeyManager], Awaitable[T]]) -> T:
    async def main() -> T:
        store, audit_store = open_key_store(db), open_audit_store(db)
        try:
            return await body(KeyManager(store, AuditTrail(audit_store, use_context_tenant=True)))
        except APIKeyError as exc:
            fail(str(exc), 2)
        finally:
            await store.close()
            await audit_store.close()

    return run_command(main)


@app.command()
def create(
    tenant: str = typer.Option(..., "--tenant", help="The tenant every request with this key acts for."),
    scope: str = typer.Option("", "--scope", help="Comma-separated: runs:write, runs:read, usage:read, "
                              "audit:read, mining:read."),
    expires: Optional[str] = typer.Option(None, "--expires", help="Lifetime, e.g. 90d, 12h, 2w (default: never)."),
    admin: bool = typer.Option(False, "--admin", help="An admin key: manages tenants and keys of every tenant."),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
    db: str = DbOpt, as_json: bool = JsonOpt,
) -> None:
    """Create a key and print its token once (store it now: only its digest is kept)."""
    try:
        lifetime = parse_duration(expires)
    except APIKeyError as exc:
        fail(str(exc), 2)
    key, token = _with_manager(db, lambda m: m.create(tenant, scope, actor=cli_actor(), expires_in=lifetime,
                                                      admin=admin, name=name))
    if as_json:
        print_json({**key.to_dict(), "token": token})
        return
    typer.echo(token)
    Console(stderr=True).print(f"key {key.key_id} for tenant {tenant!r} "
                               f"({', '.join(sorted(key.scopes)) or 'no scopes'}{', admin' if key.admin else ''}); "
                               "this token is shown once", highlight=False)


@app.command("list")
def list_keys(tenant: Optional[str] = typer.Option(None, "--tenant", help="Only this tenant's keys."),
              db: str = DbOpt, as_json: bool = JsonOpt) -> None:
    """List keys (ids, tenants, scopes, state; never secrets)."""
    keys = _with_manager(db, lambda m: m.list(tenant))
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    table = Table("key id", "tenant", "scopes", "admin", "state", "expires", "name")
    for k in keys:
        d: dict[str, Any] = k.to_dict()
        table.add_row(k.key_id, k.tenant_id, ", ".join(d["scopes"]), "yes" if k.admin else "", d["state"],
                      d["expires_at"] or "never", k.name)
    Console().print(table)


@app.command()
def revoke(key_id: str = typer.Argument(..., help="The key id (the part after 'lt_')."), db: str = DbOpt) -> None:
    """Revoke a key: every request with it is refused from now on."""
    key = _with_manager(db, lambda m: m.revoke(key_id, actor=cli_actor()))
    Console(stderr=True).print(f"key {key.key_id} of tenant {key.tenant_id!r} is revoked", highlight=False)
