"""``llmteam demo`` and ``llmteam run``: the team runtime from the command line.

Exit codes: 0 success; 1 a refused or failed run (tenant limit or feature, licence, rate limit, model endpoint,
routing, audit verification); 2 a bad team file, bad input or bad option.
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from llmteam import StoreURLError
from llmteam.audit import AuditError
from llmteam.cli._errors import fail
from llmteam.cli._format import cost_text, human_ms, json_data, table, to_ms
from llmteam.config import settings
from llmteam.licensing import FeatureNotLicensedError
from llmteam.llm import LLMConfigError, LLMError
from llmteam.ratelimit import RateLimitError
from llmteam.roles import RolesError
from llmteam.team import DEFAULT_URL, PromptVariableError, RunResult, TeamConfigError, TeamError, load_team
from llmteam.team._demo import DEMO_PRICE_NOTE, DEMO_QUERY, DEMO_TENANT, DemoReport, run_demo
from llmteam.team._usage import Usage
from llmteam.tenancy import TenantError, TenantTier

T = TypeVar("T")
_err = Console(stderr=True)

USAGE_ERRORS: tuple[type[BaseException], ...] = (
    TeamConfigError, PromptVariableError, StoreURLError, LLMConfigError, json.JSONDecodeError,
)
RUN_ERRORS: tuple[type[BaseException], ...] = (
    TeamError, TenantError, LLMError, RateLimitError, FeatureNotLicensedError, AuditError, RolesError,
    ConnectionError, PermissionError, ValueError,
)

DbOpt = typer.Option(DEFAULT_URL, "--db", help="Store URL: sqlite:///path.db, postgresql://..., memory://")
JsonOpt = typer.Option(False, "--json", help="Print JSON for scripts.")


def run_command(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async command body; known errors become a clear message and exit code 2 (usage) or 1 (refusal)."""
    try:
        return asyncio.run(body())
    except USAGE_ERRORS as exc:
        fail(f"{type(exc).__name__}: {exc}", 2)
    except RUN_ERRORS as exc:
        fail(f"{type(exc).__name__}: {exc}", 1)


@contextmanager
def progress(message: str, quiet: bool) -> Iterator[None]:
    """A transient spinner on stderr for work that may take over a second (none with --json)."""
    if quiet:
        yield
        return
    with _err.status(message):
        yield


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def usage_table(result: RunResult, currency: str = "USD", title: str = "Usage and cost per agent") -> Table:
    """Per-agent model, requests, tokens (tool calls when the run made any) and cost, with a total row; fits 80
    columns without cutting agent or model names."""
    models = {s.agent: s.model for s in result.steps}
    tools = ("tools",) if result.usage.tool_calls else ()
    numbers = ("calls", "in", "out", *tools, currency)
    t = table("agent", "model", *numbers, numeric=numbers, title=f"{title} (tokens in / out)")
    t.columns[0].min_width = min(32, max([5, *(len(a) for a in result.usage_by_agent)]))
    t.columns[1].min_width = min(32, max([5, *(len(m) for m in models.values())]))

    def cells(u: Usage) -> list[str]:
        tool_cells = [str(u.tool_calls)] if tools else []
        return [str(u.requests), str(u.prompt_tokens), str(u.completion_tokens), *tool_cells,
                cost_text(u.cost, u.unpriced, u.requests)]

    for agent, u in result.usage_by_agent.items():
        t.add_row(agent, models.get(agent, ""), *cells(u))
    t.add_row("[bold]total[/bold]", "", *(f"[bold]{c}[/bold]" for c in cells(result.usage)))
    return t


def tool_calls_table(result: RunResult) -> Table | None:
    """The run's tool calls (agent, tool, policy decision, outcome, time), or None when it made none."""
    rows = [(s.agent, c) for s in result.steps for c in s.tool_calls]
    if not rows:
        return None
    table = Table(title="Tool calls (governed and audited)", title_justify="left")
    for col in ("agent", "tool", "decision", "outcome", "time", "audit #"):
        table.add_column(col, justify="right" if col in ("time", "audit #") else "left")
    for agent, c in rows:
        outcome = "ok" if c.ok else f"[red]{(c.error or 'refused')[:60]}[/red]"
        table.add_row(agent, c.tool, c.decision, outcome, f"{c.duration_ms:.1f} ms", str(c.audit_sequence))
    return table


def answer_panel(result: RunResult) -> Panel:
    """The answer in a panel titled with team and tenant; run id, steps and duration go under it, never clipped."""
    return Panel(result.output, title=f"Answer from team {result.team!r} for tenant {result.tenant_id!r}",
                 expand=False)


def run_line(result: RunResult, detail: str = "") -> str:
    """``run <id> · <n> steps · 72.4 ms`` (plus ``detail``), printed under the answer panel."""
    parts = [f"run {result.run_id}", f"{len(result.steps)} steps", human_ms(result.duration_ms)]
    return "[dim]" + " · ".join([*parts, *([detail] if detail else [])]) + "[/dim]"


def _demo_json(r: DemoReport) -> Any:
    m = r.metrics
    return json_data({
        "answer": r.result.output,
        "model": r.model,
        "run": r.result.to_dict(),
        "prices": DEMO_PRICE_NOTE,
        "audit": {"checkpoint": r.checkpoint, "verified": r.verification.ok,
                  "records_checked": r.verification.records_checked, "problems": r.verification.problems,
                  "signing_key": str(r.signing_key), "signing_key_created": r.signing_key_created},
        "process": {
            "cases": r.cases, "avg_case_duration_ms": to_ms(m.avg_duration),
            "completion_rate": m.completion_rate, "error_rate": m.error_rate,
            "bottlenecks": [{"activity": b.activity, "mean_service_ms": to_ms(b.mean_service_time),
                             "mean_waiting_ms": to_ms(b.mean_waiting_time)} for b in r.bottlenecks],
        },
        "files": {"xes": str(r.xes_path), "process_map": str(r.map_path), "process_map_format": r.map_format},
        "elapsed_ms": to_ms(r.seconds * 1000),
        "next": next_steps(r),
    })


def next_steps(r: DemoReport) -> list[str]:
    """Three commands to try on what the demo just wrote: its audit chain, its process log, its tenant."""
    db = "" if r.db == DEFAULT_URL else f" --db {r.db}"
    return [
        f"llmteam audit verify --tenant {r.result.tenant_id}{db}",
        f"llmteam mine metrics --tenant {r.result.tenant_id}{db}",
        f"llmteam tenants show {r.result.tenant_id}{db}",
    ]


def _print_demo(r: DemoReport) -> None:
    out = Console()
    res = r.result
    out.print(answer_panel(res))
    out.print(run_line(res, f"model {r.model}"))
    out.print(usage_table(res))
    calls = tool_calls_table(res)
    if calls is not None:
        out.print(calls)
    out.print(f"[dim]{DEMO_PRICE_NOTE}[/dim]")
    cp, v = r.checkpoint, r.verification
    status = ("[green]verified[/green]: every record's checksum and link re-checked, the log extends the checkpoint"
              if v.ok else "[red]FAILED[/red]: " + "; ".join(v.problems))
    out.print(f"\n[bold]Audit checkpoint[/bold] tenant {cp['tenant_id']!r}: {cp['tree_size']} records, root "
              f"{cp['root_hash'][:16]}…, signed (Ed25519, public key {cp['public_key'][:12]}…)")
    made = "created now" if r.signing_key_created else "existing"
    out.print(f"Signing key ({made}, keep it private): [cyan]{r.signing_key}[/cyan]; "
              f"its public half, for verifiers: [cyan]{r.signing_key}.pub[/cyan]")
    out.print(f"[bold]Verification[/bold] {v.records_checked} records: {status}")
    m = r.metrics
    metrics = table("cases", "avg case duration", "completion rate", "error rate",
                    title="Process metrics (all runs of this tenant)",
                    numeric=("cases", "avg case duration", "completion rate", "error rate"))
    metrics.add_row(str(r.cases), human_ms(m.avg_duration), f"{m.completion_rate:.0%}", f"{m.error_rate:.1%}")
    out.print(metrics)
    bottlenecks = table("activity", "mean service time", "mean waiting time", title="Bottlenecks (slowest first)",
                        numeric=("mean service time", "mean waiting time"))
    for b in r.bottlenecks:
        bottlenecks.add_row(b.activity, human_ms(b.mean_service_time), human_ms(b.mean_waiting_time))
    out.print(bottlenecks)
    out.print(f"XES event log written to [cyan]{r.xes_path}[/cyan]")
    if r.map_format == "svg":
        out.print(f"Process map picture written to [cyan]{r.map_path}[/cyan]")
    else:
        out.print(f"Graphviz 'dot' not found: process map written as DOT text to [cyan]{r.map_path}[/cyan] "
                  "(render it with `dot -Tsvg`)")
    out.print(f"[dim]done in {human_ms(r.seconds * 1000)}[/dim]")
    out.print("\n[bold]What next[/bold] (on what the demo just wrote):")
    for command in next_steps(r):
        out.print(f"  [cyan]{command}[/cyan]", soft_wrap=True, highlight=False)


def demo(
    db: str = DbOpt,
    tenant: str = typer.Option(DEMO_TENANT, "--tenant", help="Tenant to run as (created PROFESSIONAL if missing)."),
    query: str = typer.Option(DEMO_QUERY, "--query", help="The customer message to triage."),
    out_dir: Path = typer.Option(Path(".llmteam"), "--out-dir", help="Where the XES log and process map go."),
    as_json: bool = JsonOpt,
) -> None:
    """Run the sample support-triage team (classify, retrieve policy, draft, review) with every guarantee on.

    Uses a scripted offline model, or the OpenAI-compatible endpoint in LLMTEAM_BASE_URL (LLMTEAM_MODEL,
    LLMTEAM_API_KEY) when set. Prints the answer, usage and cost, the signed audit checkpoint and its
    verification, the process metrics and bottlenecks, and writes the XES log and the process map.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only place is the environment's failure (1); a path that cannot be, a usage error
        code = 1 if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else 2
        fail(f"cannot create --out-dir {str(out_dir)!r}: {exc.strerror or exc}", code,
             "run from a writable directory, or choose one with --out-dir")
    where = settings().base_url or "the scripted offline model"
    with progress(f"Running the support-triage team on {where}…", as_json):
        report = run_command(lambda: run_demo(db, tenant=tenant, query=query, out_dir=out_dir))
    if as_json:
        print_json(_demo_json(report))
    else:
        _print_demo(report)
    if not report.verification.ok:
        raise typer.Exit(1)


MAX_INPUT_BYTES = 10 * 1024 * 1024


def _parse_input(text: str) -> dict[str, Any]:
    """The run input: a JSON object given inline or as ``@file``; a file's content is never echoed back."""
    source = "--input"
    if text.startswith("@"):
        path, source = Path(text[1:]), f"input file {text[1:]!r}"
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            fail(f"cannot read {source}: {exc.strerror or exc}", 2, "give @path/to/input.json")
        if len(raw) > MAX_INPUT_BYTES:
            fail(f"{source} is over {MAX_INPUT_BYTES // (1024 * 1024)} MiB", 2, "pass a smaller JSON object")
        text = raw.decode("utf-8", errors="replace")
    shown = "" if source != "--input" else f": {text[:80]!r}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}){shown}", 2,
             'give a JSON object, e.g. --input \'{"query": "..."}\' or --input @input.json')
    except RecursionError:
        fail(f"{source} is nested too deeply to parse", 2, "pass a flatter JSON object")
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        reason = str(exc).split(";")[0]
        fail(f"{source} holds a value that cannot be read ({reason})", 2, "pass large numbers as strings")
    if not isinstance(data, dict):
        fail(f"{source} must be a JSON object like '{{\"query\": \"...\"}}', got {type(data).__name__}", 2)
    return data


def run(
    team_file: Path = typer.Argument(..., help="Team definition (YAML).", show_default=False),
    tenant: str = typer.Option(..., "--tenant", help="Tenant to run as."),
    input: str = typer.Option("{}", "--input", help="Run input as a JSON object, or @file.json."),
    db: str = DbOpt,
    redis_url: str | None = typer.Option(None, "--redis", help="Share rate limits through Redis (redis://...)."),
    create_tenant: bool = typer.Option(
        True, "--create-tenant/--no-create-tenant", help="Create an unknown tenant with the FREE tier."),
    as_json: bool = JsonOpt,
    allow_key_env: list[str] | None = typer.Option(
        None, "--allow-key-env", help="Environment variable (or glob) the team file may name as api_key_env; "
        "repeatable; replaces the default LLMTEAM_API_KEY and *_API_KEY."),
    stream: bool = typer.Option(False, "--stream", help="Print the model's tokens and tool calls as they happen."),
    detach: bool = typer.Option(False, "--detach", help="Queue a durable run for `llmteam worker`; print its id."),
) -> None:
    """Run TEAM_FILE once for --tenant on --input and print the answer, usage and audit head."""
    data = _parse_input(input)
    try:
        team = load_team(team_file, api_key_envs=allow_key_env or None)
    except (TeamError, LLMConfigError) as exc:  # any error in the definition itself is a usage error
        fail(f"{type(exc).__name__}: {exc}", 2)
    try:
        team.check_input(data)
    except TeamError as exc:  # bad input is a usage error, found before anything runs
        fail(f"{type(exc).__name__}: {exc}", 2, "fix --input")

    auto = TenantTier.FREE if create_tenant else None
    if detach:
        typer.echo(_submit_detached(team, db, tenant, data, auto))
        return

    async def body() -> RunResult:
        async with team.runtime(db, tenant=tenant, redis_url=redis_url, auto_create_tenant=auto) as rt:
            if not stream:
                return await rt.run(data)
            async for event in rt.stream(data):
                if event.result is not None:
                    return event.result
                _print_event(event, as_json)
        raise AssertionError("a stream always ends with run_finished")

    with progress(f"Running {team_file} for tenant {tenant!r}…", as_json or stream):
        result = run_command(body)
    if as_json:
        print_json(json_data(result.to_dict()))
        return
    out = Console()
    out.print(answer_panel(result))
    out.print(run_line(result))
    out.print(usage_table(result, team.prices.currency))
    calls = tool_calls_table(result)
    if calls is not None:
        out.print(calls)
    head = result.audit_head
    out.print(f"Audit chain head: sequence {head.sequence_number}, checksum {head.checksum[:16]}…")


def _print_event(event: Any, as_json: bool) -> None:
    """One streamed run event: tokens to stdout as they come, the rest as dim lines on stderr (--json: JSON lines)."""
    if as_json:
        typer.echo(json.dumps({"event": event.kind, "agent": event.agent, "step": event.step, **event.data},
                              default=str, ensure_ascii=False))
    elif event.kind == "token":
        typer.echo(event.data["text"], nl=False)
    elif event.kind == "step_started":
        _err.print(f"[dim]── step {event.step}: {event.agent}[/dim]")
    elif event.kind == "step_finished":
        typer.echo("")
    elif event.kind in ("tool_decided", "tool_finished"):
        detail = event.data.get("decision") or ("ok" if event.data.get("ok") else event.data.get("error"))
        _err.print(f"[dim]   {event.kind.replace('_', ' ')}: {event.data.get('tool')} → {detail}[/dim]")


def _submit_detached(team: Any, db: str, tenant: str, data: dict[str, Any], auto: TenantTier | None) -> str:
    try:
        from llmteam.durable import DurableRuntime
    except ModuleNotFoundError as exc:
        fail(str(exc), 2)

    async def submit() -> str:
        async with DurableRuntime(team, db, tenant=tenant, serve=False, auto_create_tenant=auto) as rt:
            return await rt.submit(data)

    return run_command(submit)


def register(app: typer.Typer) -> None:
    """Add the top-level ``demo`` and ``run`` commands to the ``llmteam`` app."""
    app.command("demo")(demo)
    app.command("run")(run)
