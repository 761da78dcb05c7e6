"""How the ``llmteam`` command reports errors: one line on stderr (a JSON object with ``--json``), never a traceback.

Every command reports a refusal or bad input through :func:`fail`; the entry point (``llmteam.cli.main``) turns any
exception nobody expected into the same one line, naming the error and a hint, and says how to see the
traceback (``LLMTEAM_DEBUG=1``). Exit codes: 2 for usage errors (bad option, argument, input or file), 1 for
failures (refused, failed or broken), 130 when interrupted.

The JSON shape, on stderr: ``{"error": {"type": ..., "message": ..., "hint": ..., "exit_code": ...}}``.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

import typer

DEBUG_ENV = "LLMTEAM_DEBUG"
_state = {"json": False}


class CLIError(Exception):
    """A refusal or bad input a command reports and exits on: ``message``, exit ``code`` and an optional ``hint``."""

    def __init__(self, message: str, code: int = 1, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.hint = message, code, hint


def set_json_mode(enabled: bool) -> None:
    """Report errors as JSON on stderr (``--json`` anywhere on the command line turns it on)."""
    _state["json"] = enabled


def json_mode() -> bool:
    """Whether errors are reported as JSON."""
    return _state["json"]


def emit(message: str, code: int, hint: str | None = None, kind: str = "error") -> None:
    """Print one error on stderr: ``error: message (hint)`` as text, or a JSON object with ``--json``."""
    if _state["json"]:
        body = {"type": kind, "message": message, "hint": hint, "exit_code": code}
        sys.stderr.write(json.dumps({"error": body}, ensure_ascii=False) + "\n")
    else:
        from rich.console import Console
        from rich.markup import escape

        text = f"[red]error:[/red] {escape(message)}"
        if hint:
            text += f"\n[dim]hint:[/dim] {escape(hint)}"
        Console(stderr=True).print(text, highlight=False, soft_wrap=True)
    sys.stderr.flush()


def fail(message: str, code: int = 1, hint: str | None = None) -> NoReturn:
    """Report ``message`` and exit with ``code`` (2 usage, 1 failure)."""
    emit(message, code, hint)
    raise typer.Exit(code)


def describe(exc: BaseException) -> tuple[str, int, str]:
    """An unexpected exception as (message, exit code, hint) for one line on stderr."""
    name = type(exc).__name__
    text = str(exc) or name
    if isinstance(exc, CLIError):
        return exc.message, exc.code, exc.hint or ""
    from llmteam.backends import StoreURLError

    if isinstance(exc, StoreURLError):
        return f"{name}: {text}", 2, "pass --db sqlite:///path/to/file.db, postgresql://... or memory://"
    if isinstance(exc, sqlite3.DatabaseError):
        if "not a database" in text or "malformed" in text:
            return (f"{name}: {text}", 1, "the --db file is not an llmteam SQLite database (corrupted or another "
                    "kind of file); point --db at another file, or move this one aside to start afresh")
        if "readonly" in text or "unable to open" in text:
            return (f"{name}: {text}", 1, "the database or its directory is not writable; run from a writable "
                    "directory or pass --db sqlite:///some/writable/dir/llmteam.db")
        return f"{name}: {text}", 1, "check the --db file"
    if isinstance(exc, OSError):
        where = f" {exc.filename!r}" if exc.filename else ""
        reason = exc.strerror or text
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return (f"cannot write or read{where}: {reason}", 1, "run from a writable directory, or pass --db / "
                    "--out / --out-dir pointing into one")
        if exc.errno == errno.ENOENT:
            return f"no such file or directory{where}", 2, "check the path; create missing directories first"
        return f"{name}{where}: {reason}", 1, "check the paths and the server given to the command"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply", 2, "pass flatter JSON"
    if type(exc).__module__.startswith("llmteam."):  # a refusal or failure the library explains itself
        return f"{name}: {text}", 1, "see the command's --help"
    return f"{name}: {text}", 1, "this is unexpected; please report it with the command you ran"


def report_unexpected(exc: BaseException) -> int:
    """Report an exception nobody expected in one line (or re-raise it with LLMTEAM_DEBUG=1); the exit code."""
    from llmteam.config import settings

    if settings().debug:
        raise exc
    message, code, hint = describe(exc)
    hint = (hint + "; " if hint else "") + f"set {DEBUG_ENV}=1 to see the traceback"
    emit(message, code, hint, kind=type(exc).__name__)
    return code


def check_output_path(path: Path, option: str) -> None:
    """Refuse (exit 2) an output file whose directory does not exist or is not a directory, before any work."""
    parent = path.expanduser().absolute().parent
    if not parent.is_dir():
        fail(f"{option} {str(path)!r}: directory {str(parent)!r} does not exist", 2,
             f"create it first (mkdir -p {parent}) or choose another {option}")
    if path.is_dir():
        fail(f"{option} {str(path)!r} is a directory", 2, f"give a file name for {option}")
