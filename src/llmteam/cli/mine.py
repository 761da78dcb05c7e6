"""``llmteam mine``: process maps, XES/JSONL export and metrics from the durable process-event log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import asdict
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from llmteam._files import atomic_text_writer, atomic_write_bytes, atomic_write_text
from llmteam.backends import StoreURLError, parse_store_url
from llmteam.cli._errors import check_output_path, fail
from llmteam.cli._format import human_ms, json_data, table
from llmteam.roles import (
    EventLogError,
    ProcessMapRenderError,
    ProcessMiningEngine,
    RolesError,
    import_xes,
    open_event_log,
)
from llmteam.roles._event_log import EventLogBase

DEFAULT_DB = "sqlite:///./.llmteam/llmteam.db"

app = typer.Typer(help="Process mining over the runtime's event log: maps, export, metrics.", no_args_is_help=True)
_err = Console(stderr=True)

DbOption = typer.Option(DEFAULT_DB, "--db", help="Event log URL (sqlite:///path.db, postgresql://..., memory://).")
TenantOption = typer.Option(None, "--tenant", help="Only this tenant's events (default: every tenant).")
InputOption = typer.Option(None, "--input", help="Read events from this XES file instead of the database.")


class MapFormat(str, Enum):
    svg = "svg"
    png = "png"
    dot = "dot"
    mermaid = "mermaid"


class ExportFormat(str, Enum):
    xes = "xes"
    xes_standard = "xes-standard"
    jsonl = "jsonl"


def _open(db: str) -> EventLogBase:
    try:
        parsed = parse_store_url(db, allowed=("memory", "sqlite", "postgresql"))
    except StoreURLError as exc:
        fail(str(exc), 2, "pass --db sqlite:///path.db or postgresql://...")
    if parsed.scheme == "sqlite" and parsed.path != ":memory:" and not Path(parsed.path).is_file():
        fail(f"no event log at {parsed.path!r}", 1, "run `llmteam demo` first, or pass --db or --input")
    return open_event_log(db)


TeamOption = typer.Option(None, "--team", help="Only the runs of this team (needs --tenant).")


async def _team_runs(db: str, tenant: str, team: str) -> set[str]:
    """The ids of ``tenant``'s runs of ``team`` (from the run store, page by page)."""
    from llmteam.team import open_run_store

    runs, ids, offset = open_run_store(db), set[str](), 0
    try:
        while page := await runs.list(tenant, 1000, offset):
            ids.update(r.run_id for r in page if r.team == team)
            offset += len(page)
    finally:
        await runs.close()
    return ids


async def _load(db: str, tenant: Optional[str], source: Optional[Path], team: Optional[str] = None
                ) -> ProcessMiningEngine:
    engine = ProcessMiningEngine()
    if source is not None:
        engine.record_events(import_xes(source))
        return engine
    log = _open(db)
    try:
        if team is None:
            await log.load_into(engine, tenant_id=tenant)
        elif tenant is not None:
            wanted = await _team_runs(db, tenant, team)
            async for event in log.iterate(tenant_id=tenant):
                if event.case_id in wanted:
                    engine.record_event(event)
    finally:
        await log.close()
    return engine


def _run(coro: Any, out: Optional[Path] = None) -> Any:
    try:
        return asyncio.run(coro)
    except (RolesError, ConnectionError) as exc:
        fail(str(exc), 1)
    except OSError as exc:  # named by the path the user gave, never by an internal temporary file
        where = f"--out {str(out)!r}" if out is not None else repr(exc.filename)
        fail(f"cannot write or read {where}: {exc.strerror or exc}", 1, "check the path and its permissions")


@app.command("map")
def map_command(
    format: MapFormat = typer.Option(MapFormat.svg, "--format", "-f", help="svg, png, dot or mermaid."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (text formats: stdout if omitted)."),
    db: str = DbOption,
    tenant: Optional[str] = TenantOption,
    team: Optional[str] = TeamOption,
    source: Optional[Path] = InputOption,
) -> None:
    """Draw the process map: title and legend, activities with counts and mean service time (the slowest in
    red), transitions with counts and mean time between, on a white background."""
    if team is not None and (tenant is None or source is not None):
        fail("--team needs --tenant (teams are per tenant) and reads the database, not --input", 2,
             f"llmteam mine map --tenant TENANT --team {team} -o map.svg")
    if format in (MapFormat.svg, MapFormat.png) and out is None:
        fail(f"--format {format.value} writes an image and needs --out FILE", 2,
             f"llmteam mine map -o map.{format.value}, or --format dot / mermaid for text on stdout")
    if out is not None:
        check_output_path(out, "--out")
    engine = _run(_load(db, tenant, source, team))
    if engine.get_event_count() == 0:
        what = f"team {team!r} of tenant {tenant!r} has no runs" if team else "the event log is empty"
        fail(f"{what}: nothing to draw", 1, "run `llmteam demo` or a team first")
    title = team or (f"tenant {tenant}" if tenant else "all tenants")
    try:
        rendered = engine.process_map(format.value, title=title)
    except ProcessMapRenderError as exc:
        fail(str(exc), 1, "install Graphviz (`dot`) for svg/png, or use --format dot or mermaid")
    if out is None:
        sys.stdout.write(str(rendered))
        return
    if isinstance(rendered, bytes):  # replaced atomically, never written through a symlink planted at --out
        atomic_write_bytes(out, rendered)
    else:
        atomic_write_text(out, rendered)
    _err.print(f"wrote {format.value} process map of {engine.get_case_count()} cases to {out}", highlight=False)


METRIC_LABELS = {
    "avg_duration": "average case duration", "min_duration": "shortest case", "max_duration": "longest case",
    "cases_per_hour": "cases per hour", "completion_rate": "completion rate", "error_rate": "error rate",
    "retry_rate": "retry rate",
}


def _metric_text(name: str, value: Any) -> str:
    if isinstance(value, timedelta):
        return human_ms(value)
    if name.endswith("_rate"):
        return f"{value:.1%}"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


async def _export(db: str, tenant: Optional[str], fmt: ExportFormat, out: Optional[Path]) -> int:
    log = _open(db)
    try:
        if fmt is ExportFormat.jsonl:
            n = 0
            with atomic_text_writer(out) if out is not None else contextlib.nullcontext(sys.stdout) as handle:
                async for event in log.iterate(tenant_id=tenant):
                    handle.write(json.dumps(json_data(asdict(event))) + "\n")
                    n += 1
            return n
        standard = fmt is ExportFormat.xes_standard
        return await log.write_xes(out if out is not None else sys.stdout, standard=standard, tenant_id=tenant)
    finally:
        await log.close()


@app.command("export")
def export_command(
    format: ExportFormat = typer.Option(ExportFormat.xes, "--format", "-f", help="xes, xes-standard or jsonl."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (stdout if omitted)."),
    db: str = DbOption,
    tenant: Optional[str] = TenantOption,
) -> None:
    """Export the event log, streamed case by case (memory stays bounded)."""
    if out is not None:
        check_output_path(out, "--out")
    n = _run(_export(db, tenant, format, out), out)
    if out is not None:
        _err.print(f"wrote {n} events as {format.value} to {out}", highlight=False)


@app.command("metrics")
def metrics_command(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    db: str = DbOption,
    tenant: Optional[str] = TenantOption,
    source: Optional[Path] = InputOption,
    top: int = typer.Option(5, "--top", min=1, help="How many bottlenecks and variants to show."),
) -> None:
    """Print process metrics, bottlenecks (service and waiting time) and the most frequent variants."""
    engine = _run(_load(db, tenant, source))
    metrics = engine.calculate_metrics()
    service = engine.find_bottlenecks("service", top)
    waiting = engine.find_bottlenecks("waiting", top)
    variants = engine.get_variants()[:top]
    if as_json:  # durations in milliseconds (keys ending in _ms), floats rounded
        data = json_data({
            "events": engine.get_event_count(),
            "cases": engine.get_case_count(),
            "metrics": asdict(metrics),
            "bottlenecks": {"service": [asdict(b) for b in service], "waiting": [asdict(b) for b in waiting]},
            "variants": [{"activities": list(v.activities), "count": v.count, "share": v.share} for v in variants],
        })
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console = Console()
    mt = table("metric", "value", numeric=("value",),
               title=f"Process metrics ({engine.get_case_count()} cases, {engine.get_event_count()} events)")
    for name, value in asdict(metrics).items():
        if name in METRIC_LABELS:
            mt.add_row(METRIC_LABELS[name], _metric_text(name, value))
    console.print(mt)
    bt = table("by", "activity", "mean service", "mean waiting", title="Bottlenecks (slowest first)",
               numeric=("mean service", "mean waiting"))
    for by, rows in (("service", service), ("waiting", waiting)):
        for b in rows:
            bt.add_row(by, b.activity, human_ms(b.mean_service_time), human_ms(b.mean_waiting_time))
    console.print(bt)
    vt = table("count", "share", "activities", title="Variants (most frequent first)", numeric=("count", "share"))
    vt.columns[2].no_wrap = False
    for v in variants:
        vt.add_row(str(v.count), f"{v.share:.1%}", " -> ".join(v.activities))
    console.print(vt)


__all__ = ["app"]
_ = EventLogError  # re-exported error type used by callers catching CLI failures
