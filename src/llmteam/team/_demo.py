"""The sample support-triage team behind ``llmteam demo``, and one call that runs it and gathers the report.

Four agents: ``classify`` (billing / account / technical), ``retrieve_policy`` (the policy for that class),
``draft`` (a reply following the policy) and ``review`` (APPROVED or REVISE, which routes back to ``draft``).
Offline it runs on a :class:`ScriptedLLM`; with ``LLMTEAM_BASE_URL`` set it uses that OpenAI-compatible
endpoint. Prices are illustrative: USD 0.50 / 1.50 per 1,000 prompt / completion tokens (``DEMO_PRICE_NOTE``).
``draft`` has one tool, :func:`lookup_invoice` over a small local table, so every demo run shows a governed,
audited tool call.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmteam.audit import AuditLedger, LedgerVerification
from llmteam.audit._signing import default_key_path
from llmteam.config import settings
from llmteam.llm import LLMProvider, Message, OpenAICompatible, ScriptedLLM, ToolCall
from llmteam.roles import Bottleneck, ProcessMetrics, ProcessMiningEngine, render_dot
from llmteam.team._result import RunResult
from llmteam.team._runtime import DEFAULT_URL
from llmteam.team._team import Agent, Route, Team
from llmteam.team._usage import PriceTable
from llmteam.tenancy import TenantTier
from llmteam.tools import tool

DEMO_TENANT = "demo"
DEMO_QUERY = "Hello, I was charged twice on my last invoice. Can you refund the duplicate charge?"
DEMO_PRICES = PriceTable({"*": (0.5, 1.5)}, currency="USD")
DEMO_PRICE_NOTE = "Prices are illustrative: USD 0.50 per 1,000 prompt tokens, USD 1.50 per 1,000 completion tokens."
_POLICIES = {
    "billing": "Policy B-7: a duplicate or wrong charge is refunded to the original payment method within "
               "5 business days, and the customer gets a corrected invoice.",
    "account": "Policy A-2: password resets and login problems are solved through a verified reset link; "
               "never ask for the password.",
    "technical": "Policy T-1: reproduce the problem, give a workaround if one exists, and open a ticket "
                 "with engineering otherwise.",
}


INVOICES = {
    "INV-1042": {"number": "INV-1042", "amount": 49.0, "currency": "EUR", "charged": 2, "status": "paid twice"},
    "INV-0977": {"number": "INV-0977", "amount": 49.0, "currency": "EUR", "charged": 1, "status": "paid"},
}
LATEST_INVOICE = "INV-1042"


@tool
def lookup_invoice(number: str = "latest") -> dict[str, Any]:
    """Look up a customer's invoice by number ("latest" for the most recent one): amount, charges and status."""
    key = LATEST_INVOICE if number.strip().lower() == "latest" else number.strip().upper()
    return INVOICES.get(key) or {"number": number, "error": "no such invoice"}


def _draft_with_invoice(messages: list[Message]) -> str | ToolCall | None:
    """The scripted drafter: look the invoice up first, then write the reply citing it (None: not a draft)."""
    prompt = str(messages[0].get("content") or "")
    if not prompt.startswith("Draft a reply"):
        return None
    results = [m for m in messages if m["role"] == "tool"]
    if not results:
        number = re.search(r"\bINV-\d+\b", prompt)
        return ToolCall.of("lookup_invoice", {"number": number.group(0) if number else "latest"})
    try:
        invoice = json.loads(results[-1]["content"])
        fact = (f" Invoice {invoice['number']} ({invoice['amount']:.2f} {invoice['currency']}) was charged "
                f"{invoice['charged']} times.")
    except (ValueError, KeyError, TypeError):
        fact = ""
    return _draft(prompt) + fact


def _draft(prompt: str) -> str:
    policy = re.search(r"Policy [A-Z]-\d+: (.*)", prompt)
    promise = policy.group(1).rstrip(".") if policy else "we will look into it right away"
    return (f"Dear customer, thank you for reaching out and sorry for the trouble. Following our policy, {promise}. "
            "We will keep you posted. Kind regards, the support team")


def scripted_support_llm() -> ScriptedLLM:
    """The offline model of the demo: rules keyed on each agent's prompt wording, with a simulated latency."""
    return ScriptedLLM([
        (re.compile(r"^Classify.*Message:.*\b(invoice|charged?|refund|bill|payment)\b", re.I | re.S), "billing"),
        (re.compile(r"^Classify.*Message:.*\b(password|login|log in|account)\b", re.I | re.S), "account"),
        (re.compile(r"^Classify", re.I), "technical"),
        (re.compile(r"^Retrieve the support policy for category: billing", re.I), _POLICIES["billing"]),
        (re.compile(r"^Retrieve the support policy for category: account", re.I), _POLICIES["account"]),
        (re.compile(r"^Retrieve the support policy", re.I), _POLICIES["technical"]),
        (re.compile(r"^Draft a reply", re.I), _draft),
        (re.compile(r"^Review", re.I), "APPROVED: polite, follows the policy, promises nothing beyond it."),
    ], model="scripted-support", delay=0.002, seconds_per_token=0.0004, respond=_draft_with_invoice)


def demo_team(llm: LLMProvider | None = None) -> Team:
    """The support-triage team; ``llm`` defaults to the endpoint in ``LLMTEAM_BASE_URL`` or the scripted model."""
    if llm is None:
        llm = OpenAICompatible() if settings().base_url else scripted_support_llm()
    return Team(
        "support_triage",
        llm=llm,
        agents=[
            Agent("classify", prompt="Classify this customer message as billing, account or technical. "
                                     "Answer with the one word.\nMessage: {query}"),
            Agent("retrieve_policy", prompt="Retrieve the support policy for category: {classify}",
                  sensitivity="public"),
            Agent("draft", prompt="Draft a reply to the customer message below, following the policy.\n"
                                  "Message: {query}\nPolicy: {retrieve_policy}", tools=[lookup_invoice],
                  tool_rules={"lookup_invoice": {"timeout": 10.0, "max_calls_per_run": 5}}),
            Agent("review", prompt="Review this draft for tone and policy compliance. Start your answer with "
                                   "APPROVED or REVISE.\nDraft: {draft}"),
        ],
        routes=[Route("review", "draft", contains="REVISE"), Route("review", "end")],
        output="draft",
        max_steps=12,
        prices=DEMO_PRICES,
        description="Support triage: classify, retrieve policy, draft, review.",
    )


def write_process_map(dot: str, stem: Path) -> tuple[Path, str]:
    """Write the map as SVG when Graphviz ``dot`` is installed, else as DOT text; returns (path, format)."""
    if shutil.which("dot"):
        path = stem.with_suffix(".svg")
        path.write_bytes(render_dot(dot, "svg"))
        return path, "svg"
    path = stem.with_suffix(".dot")
    path.write_text(dot, encoding="utf-8")
    return path, "dot"


@dataclass
class DemoReport:
    """Everything ``llmteam demo`` shows: the run, the signed audit checkpoint and its verification, mining."""

    result: RunResult
    model: str
    checkpoint: dict[str, Any]
    verification: LedgerVerification
    metrics: ProcessMetrics
    bottlenecks: list[Bottleneck]
    cases: int
    xes_path: Path
    map_path: Path
    map_format: str
    seconds: float
    db: str = DEFAULT_URL
    signing_key: Path = Path()
    signing_key_created: bool = False


async def run_demo(
    url: str = DEFAULT_URL,
    *,
    tenant: str = DEMO_TENANT,
    query: str = DEMO_QUERY,
    out_dir: str | os.PathLike[str] = ".llmteam",
    llm: LLMProvider | None = None,
) -> DemoReport:
    """Run the demo team once for ``tenant`` (created PROFESSIONAL if missing) and gather the report."""
    started = time.perf_counter()
    team = demo_team(llm)
    out = Path(out_dir)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    async with team.runtime(url, tenant=tenant, auto_create_tenant=None) as rt:
        await rt.ensure_tenant(tenant, TenantTier.PROFESSIONAL, name="Demo tenant",
                               metadata={"created_by": "llmteam demo"})
        result = await rt.run({"query": query})
        key_path = default_key_path(getattr(rt.audit_store, "path", None))
        key_existed = await asyncio.to_thread(key_path.exists)
        ledger = AuditLedger(rt.audit_store)
        checkpoint = await ledger.checkpoint(tenant)
        verification = await ledger.verify(tenant, checkpoint)
        engine = ProcessMiningEngine()
        await rt.event_log.load_into(engine, tenant_id=tenant)
        xes_path = out / f"{team.name}.xes"
        await rt.event_log.write_xes(xes_path, standard=True, tenant_id=tenant)
    map_path, map_format = await asyncio.to_thread(
        write_process_map, str(engine.process_map("dot", title=team.name)), out / f"{team.name}-process-map"
    )
    return DemoReport(
        result=result, model=team.llm.model if team.llm else "", checkpoint=checkpoint,
        verification=verification, metrics=engine.calculate_metrics(), bottlenecks=engine.find_bottlenecks(),
        cases=engine.get_case_count(), xes_path=xes_path, map_path=map_path, map_format=map_format,
        seconds=time.perf_counter() - started, db=url, signing_key=key_path, signing_key_created=not key_existed,
    )
