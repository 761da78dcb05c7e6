"""``llmteam runs list|show|cancel|resume``: durable runs seen from any process (extra ``durable``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from llmteam.cli._errors import fail
from llmteam.cli.team import DbOpt, JsonOpt, print_json, run_command

T = TypeVar("T")
app = typer.Typer(help="Durable runs: list, show, cancel, resume.", no_args_is_help=True)
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
              as_json: bool = JsonOpt) -> None:
    """The newest durable runs, newest first."""
    rows = _with_control(db, system_db, schema, lambda c: c.list(limit))
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
