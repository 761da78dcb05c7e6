"""``llmteam serve``: the HTTP API and dashboard on the runtime's stores (needs the ``server`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from llmteam.cli._errors import fail
from llmteam.cli.team import DbOpt
from llmteam.team import TeamConfigError


def serve(
    db: str = DbOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: loopback only)."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
    teams: Optional[Path] = typer.Option(None, "--teams", help="Directory of team YAML files to serve (re-read "
                                         "when a file changes; admin keys may POST teams into it)."),
    teams_poll: float = typer.Option(2.0, "--teams-poll", min=0.0, help="Seconds between looks at --teams for "
                                     "changed files (0: never)."),
    durable: bool = typer.Option(False, "--durable", help="Submit runs to the durable queues (extra durable); "
                                 "`llmteam worker` processes with the same team files run them."),
    system_db: Optional[str] = typer.Option(None, "--system-db", help="DBOS system database (default: beside --db)."),
    system_schema: str = typer.Option("dbos", "--system-schema", help="PostgreSQL schema of DBOS's tables."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the API (/v1, OpenAPI at /docs) and the dashboard (/ui) for the tenants of your API keys."""
    try:
        import uvicorn

        from llmteam.server import create_app
    except ImportError as exc:
        fail(f"`llmteam serve` needs the server extra ({exc.name} is missing): pip install 'llmteam[server]'", 2)
    if durable:
        try:
            import llmteam.durable  # noqa: F401
        except ModuleNotFoundError as exc:
            fail(f"--durable: {exc}", 2)
    try:
        app = create_app(db, teams_dir=str(teams) if teams is not None else None, teams_poll=teams_poll,
                         durable=durable, system_db=system_db, system_schema=system_schema)
    except (TeamConfigError, ValueError) as exc:
        fail(str(exc), 2)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False, proxy_headers=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level command."""
    app.command("serve")(serve)
