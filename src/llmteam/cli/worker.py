"""``llmteam worker``: a process that executes queued durable runs (extra ``durable``) until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import typer

from llmteam.cli._errors import fail
from llmteam.cli.team import DbOpt, run_command
from llmteam.llm import LLMConfigError
from llmteam.team import TeamError, load_team


def worker(
    team_files: list[Path] = typer.Argument(..., help="Team definitions (YAML) whose runs this worker executes.",
                                            show_default=False),
    db: str = DbOpt,
    system_db: str | None = typer.Option(None, "--system-db", help="DBOS system database (default: beside --db)."),
    system_schema: str = typer.Option("dbos", "--system-schema", help="PostgreSQL schema of DBOS's tables."),
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, help="Runs executed at once per queue."),
    executor_id: str = typer.Option(socket.gethostname(), "--executor-id",
                                    help="This worker's stable name: a restarted worker resumes its own runs."),
    adopt: list[str] | None = typer.Option(None, "--adopt", help="Executor id of a DEAD worker whose unfinished "
                                           "runs this worker resumes (repeatable)."),
) -> None:
    """Execute queued durable runs of TEAM_FILES; a restarted worker resumes the runs it left unfinished."""
    try:
        from llmteam.durable._worker import serve
    except ModuleNotFoundError as exc:
        fail(str(exc), 2)
    try:
        teams = [load_team(path) for path in team_files]
    except (TeamError, LLMConfigError) as exc:
        fail(f"{type(exc).__name__}: {exc}", 2)

    async def body() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        names = ", ".join(t.name for t in teams)
        await serve(teams, db, stop, system_db=system_db, executor_id=executor_id, concurrency=concurrency,
                    system_schema=system_schema, adopt=adopt or (),
                    ready=lambda: typer.echo(f"worker {executor_id} ready: {names}"))

    run_command(body)


def register(app: typer.Typer) -> None:
    """Add the top-level ``worker`` command."""
    app.command("worker")(worker)
