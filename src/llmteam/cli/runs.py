"""``llmteam runs list|show|cancel|resume|pending|approve|deny|retry``: durable runs seen from any process
(extra ``durable``)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from llmteam.cli._errors import fail
from llmteam.cli.team import DbOpt, JsonOpt, print_json, run_command

T = TypeVar("T")
app = typer.Typer(help="Durable runs: list, show, cancel, resume; pending, approve, deny; retry.",
                  no_args_is_help=True)
SystemDbOpt = typer.Option(None, "--system-db", help="DBOS system database (default: beside --db).")
SchemaOpt = typer.Option("dbos", "--system-schema", help="PostgreSQL schema of DBOS's tables.")


def _with_control(db: str, system_db: str | None, schema: str, body: Callable[[Any], Awaitable[T]]) -> T:
    try:
        from llmteam.durable import RunControl, system_db_for
    except ModuleNotFoundError as exc:
        fail(str(exc), 2)

    async def run() -> T:
        async with RunControl(system_db or system_db_for(db), system_schema=schema) as control:
            return await body(control)

    return run_command(run)


def _table(rows: list[Any]) -> Table:
    table = Table("run", "status", "tenant", "queue", "executor", "attempts", "error")
    for r in rows:
        table.add_row(r.run_id, r.status, r.tenant or "", r.queue or "", r.executor or "", str(r.attempts),
                      r.error or "")
    return table


@app.command("list")
def list_runs(db: str = DbOpt, system_db: str | None = SystemDbOpt, schema: str = SchemaOpt,
              limit: int = typer.Option(50, "--limit", min=1),
              tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's runs."),
              as_json: bool = JsonOpt) -> None:
    """The newest durable runs (of every tenant, or of --tenant), newest first."""
    rows = _with_control(db, system_db, schema, lambda c: c.list(limit, tenant=tenant))
    if as_json:
        print_json([r.to_dict() for r in rows])
    else:
        Console().print(_table(rows))


@app.command("show")
def show(run_id: str = typer.Argument(..., show_default=False), db: str = DbOpt,
         system_db: str | None = SystemDbOpt, schema: str = SchemaOpt, as_json: bool = JsonOpt) -> None:
    """One durable run's status."""
    row = _with_control(db, system_db, schema, lambda c: c.status(run_id))
    if as_json:
        print_json(row.to_dict())
    else:
        Console().print(_table([row]))


@app.command("cancel")
def cancel(run_id: str = typer.Argument(..., show_default=False), db: str = DbOpt,
           system_db: str | None = SystemDbOpt, schema: str = SchemaOpt) -> None:
    """Stop a run at its next step; `runs resume` continues it."""
    _with_control(db, system_db, schema, lambda c: c.cancel(run_id))
    Console().print(f"cancelled {run_id}")


@app.command("resume")
def resume(run_id: str = typer.Argument(..., show_default=False), db: str = DbOpt,
           system_db: str | None = SystemDbOpt, schema: str = SchemaOpt) -> None:
    """Continue a cancelled or stalled run from its first unfinished step."""
    _with_control(db, system_db, schema, lambda c: c.resume(run_id))
    Console().print(f"resumed {run_id}")


def _me() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container): say so instead of guessing
        return ""


AsOpt = typer.Option(None, "--as", help="Who decides, recorded in the audit chain (default: the OS user name).")
StepOpt = typer.Option(None, "--step", min=1, help="The agent step the decision is for (must be the waiting one).")


def _approver(name: str | None) -> str:
    approver = name if name is not None else _me()
    if not approver:
        fail("cannot tell who you are (no OS user name); pass --as NAME", 2)
    return approver


@app.command("pending")
def pending(run_id: str | None = typer.Argument(None, show_default=False, help="Only this run."),
            tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's runs."), db: str = DbOpt,
            system_db: str | None = SystemDbOpt, schema: str = SchemaOpt, as_json: bool = JsonOpt) -> None:
    """Approvals that paused runs wait for, oldest first."""
    rows = _with_control(db, system_db, schema, lambda c: c.pending(run_id, tenant=tenant))
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    table = Table("run", "tenant", "step", "agent", "tool", "arguments", "requested", "deadline")
    for r in rows:
        table.add_row(r.run_id, r.tenant, str(r.step), r.agent, r.tool or "(agent step)",
                      json.dumps(r.arguments, sort_keys=True)[:200], r.requested_at.isoformat(timespec="seconds"),
                      "" if r.deadline is None else r.deadline.isoformat(timespec="seconds"))
    Console().print(table)


def _decide(run_id: str, decision: str, approver: str | None, step: int | None, reason: str, db: str,
            system_db: str | None, schema: str, as_json: bool) -> None:
    """approve/deny: decide as ``approver`` (default: the OS user), then say so."""
    who = _approver(approver)

    async def body(control: Any) -> None:
        if decision == "approved":
            await control.approve(run_id, approver=who, step=step, reason=reason)
        else:
            await control.deny(run_id, approver=who, reason=reason, step=step)

    _with_control(db, system_db, schema, body)
    if as_json:
        print_json({"run_id": run_id, "decision": decision, "approver": who, "step": step})
    else:
        Console().print(f"{decision} {run_id} as {who}; the run continues on a worker", markup=False)


@app.command("approve")
def approve(run_id: str = typer.Argument(..., show_default=False), step: int | None = StepOpt,
            reason: str = typer.Option("", "--reason", help="Why (recorded in the audit chain)."),
            approver: str | None = AsOpt, db: str = DbOpt, system_db: str | None = SystemDbOpt,
            schema: str = SchemaOpt, as_json: bool = JsonOpt) -> None:
    """Approve what a paused run waits for; it continues on a worker."""
    _decide(run_id, "approved", approver, step, reason, db, system_db, schema, as_json)


@app.command("deny")
def deny(run_id: str = typer.Argument(..., show_default=False),
         reason: str = typer.Option(..., "--reason", help="Why (required; a denied tool call returns it to the "
                                    "model, a denied agent step fails the run with it)."),
         step: int | None = StepOpt, approver: str | None = AsOpt, db: str = DbOpt,
         system_db: str | None = SystemDbOpt, schema: str = SchemaOpt, as_json: bool = JsonOpt) -> None:
    """Deny what a paused run waits for."""
    _decide(run_id, "denied", approver, step, reason, db, system_db, schema, as_json)


@app.command("retry")
def retry(run_id: str = typer.Argument(..., show_default=False),
          from_step: int = typer.Option(..., "--from-step", help="First agent step to execute again; the steps "
                                        "before it replay from the run's checkpoints."),
          db: str = DbOpt, system_db: str | None = SystemDbOpt, schema: str = SchemaOpt,
          as_json: bool = JsonOpt) -> None:
    """Run an ended run again from step N as a new run (prints its id); a worker executes it."""
    new_id = _with_control(db, system_db, schema, lambda c: c.retry(run_id, from_step=from_step))
    if as_json:
        print_json({"run_id": new_id, "retry_of": run_id, "from_step": from_step})
    else:
        typer.echo(new_id)
