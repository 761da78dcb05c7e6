"""The ``llmteam`` command: one Typer app with a sub-command group per area.

``llmteam demo`` runs the sample team on the embedded defaults; ``run``, ``tenants``, ``audit``, ``mine`` and
``license`` expose the runtime and the core modules. Every command takes ``--json`` for scripts where it
prints data. Sub-apps live in their own modules here and are imported only when the CLI starts.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

from llmteam.cli._errors import emit, report_unexpected, set_json_mode

app = typer.Typer(
    name="llmteam",
    help="Enterprise runtime for multi-agent LLM pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, group name or None for top-level commands). Each module defines ``app`` (a group) or
# ``register(app)`` (top-level commands).
_SUBCOMMANDS: tuple[tuple[str, str | None], ...] = (
    ("llmteam.cli.license", "license"),
    ("llmteam.cli.audit", "audit"),
    ("llmteam.cli.mine", "mine"),
    ("llmteam.cli.tenants", "tenants"),
    ("llmteam.cli.keys", "keys"),
    ("llmteam.cli.serve", None),
    ("llmteam.cli.team", None),
    ("llmteam.cli.worker", None), ("llmteam.cli.runs", "runs"),
)


def _register() -> None:
    for module_name, group in _SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        if group is None:
            module.register(app)
        else:
            app.add_typer(module.app, name=group)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"llmteam {version('llmteam')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("llmteam (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                      help="Print the llmteam version and exit."),
) -> None:
    """Enterprise runtime for multi-agent LLM pipelines."""


_register()


def _usage_error(exc: Exception) -> int:
    """A click usage error as one JSON error (the --json path; text mode keeps typer's own rendering)."""
    ctx = getattr(exc, "ctx", None)
    where = f"`{ctx.command_path} --help`" if ctx is not None else "`llmteam --help`"
    emit(exc.format_message(), exc.exit_code, f"see {where}", kind="UsageError")  # type: ignore[attr-defined]
    return int(exc.exit_code)  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: never a traceback (``LLMTEAM_DEBUG=1`` shows it), errors as JSON with --json."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    set_json_mode(as_json)
    try:
        code = app(args=args, prog_name="llmteam", standalone_mode=not as_json)
    except SystemExit as exc:
        raise exc
    except KeyboardInterrupt:
        emit("interrupted", 130)
        code = 130
    except Exception as exc:
        if as_json and hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click.ClickException
            code = _usage_error(exc)
        elif type(exc).__name__ == "Abort":
            emit("aborted", 1)
            code = 1
        else:
            code = report_unexpected(exc)
    sys.exit(code if isinstance(code, int) else 0)
