"""``llmteam worker``: a process that executes queued durable runs (extra ``durable``) until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
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
    executor_id: str | None = typer.Option(None, "--executor-id", show_default="host-pid-random",
                                           help="This worker's name: restarted with it, a worker resumes its own "
                                           "runs at once (otherwise a live worker resumes them after --dead-after)."),
    heartbeat: float = typer.Option(5.0, "--heartbeat", min=0.01, help="Seconds between this worker's heartbeats."),
    dead_after: float = typer.Option(30.0, "--dead-after", min=0.02, help="Seconds without a heartbeat after "
                                     "which a worker is dead and a live one resumes its runs (>= 2 x --heartbeat)."),
    adopt: list[str] | None = typer.Option(None, "--adopt", help="Executor id of a DEAD worker whose unfinished "
                                           "runs this worker resumes (repeatable)."),
) -> None:
    """Execute queued durable runs of TEAM_FILES; a restarted worker resumes the runs it left unfinished."""
    try:
        from llmteam.durable._liveness import default_executor_id
        from llmteam.durable._worker import serve
    except ModuleNotFoundError as exc:
        fail(str(exc), 2)
    if dead_after < 2 * heartbeat:
        fail(f"--dead-after {dead_after:g} must be at least twice --heartbeat {heartbeat:g}, or a busy live worker "
             "would be declared dead", 2)
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
        name = executor_id or default_executor_id()
        await serve(teams, db, stop, system_db=system_db, executor_id=name, concurrency=concurrency,
                    system_schema=system_schema, adopt=adopt or (), heartbeat=heartbeat, dead_after=dead_after,
                    ready=lambda: typer.echo(f"worker {name} ready: {names}"))

    run_command(body)


def register(app: typer.Typer) -> None:
    """Add the top-level ``worker`` command."""
    app.command("worker")(worker)
