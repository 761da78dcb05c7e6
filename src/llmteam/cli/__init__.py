"""The ``llmteam`` command: one Typer app with a sub-command group per area.

``llmteam demo`` runs the sample team on the embedded defaults; ``run``, ``tenants``, ``audit``, ``mine`` and
``license`` expose the runtime and the core modules. Every command takes ``--json`` for scripts where it
prints data. Sub-apps live in their own modules here and are imported only when the CLI starts.
"""

from __future__ import annotations

import importlib

import typer

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


_register()


def main() -> None:
    """Console-script entry point."""
    app()
