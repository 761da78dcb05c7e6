"""LLM-driven routing: a safely formatted prompt in, a decision out, whatever the model answers."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Protocol

from llmteam._text import unicode_text
from llmteam.roles._orchestration import (
    DECISION_TYPES,
    OrchestrationContext,
    OrchestrationDecision,
    OrchestrationStrategy,
)

DEFAULT_PROMPT_TEMPLATE = """You route work between the agents of a pipeline.
Current step: {current_step}
Available agents: {agents}
Agent states: {states}
Recent history: {history}
Error rate: {error_rate}
Retry count: {retry_count}
Step duration: {step_duration}
Global state: {global_state}

Answer with one JSON object and nothing else, with the keys "decision" (one of route, retry, escalate, skip,
parallel, end), "targets" (a list of agent names), "reason" (a short string) and "confidence" (0 to 1).
Example: {"decision": "route", "targets": ["agent_name"], "reason": "why", "confidence": 0.9}"""

MAX_RESPONSE_CHARS = 100_000
MAX_JSON_ATTEMPTS = 64
MAX_TARGETS = 64
MAX_TARGET_CHARS = 256
MAX_REASON_CHARS = 2_000
MAX_VALUE_CHARS = 20_000
DEFAULT_CONFIDENCE = 0.8

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?::([<>^=]?[+\- ]?#?0?\d{0,3}(?:\.\d{1,3})?[a-zA-Z%]?))?\}")
_DECODER = json.JSONDecoder()


class TextGenerator(Protocol):
    """What LLMBasedStrategy needs from a model: ``await llm.generate(prompt) -> str``."""

    async def generate(self, prompt: str) -> str: ...


def safe_format(template: str, values: dict[str, Any]) -> str:
    """``str.format``-like, but unknown fields stay as written and no attribute/index access is possible.

    Braces are literal, except that a template using ``{{`` (str.format escaping) gets ``{{``/``}}`` unescaped.
    """
    escaped = "{{" in template

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0] if escaped else text
        name, spec = match.group(1), match.group(2)
        if name not in values:
            return text
        value = values[name]
        try:
            rendered = format(value, spec) if spec else str(value)
        except (ValueError, TypeError):
            return text
        return rendered[:MAX_VALUE_CHARS]

    return _FIELD.sub(substitute, template)


def parse_error() -> OrchestrationDecision:
    """The defined fallback for any model answer that is not a usable decision."""
    return OrchestrationDecision("route", [], "llm_parse_error", 0.5)


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (code fences and prose around it allowed), or None."""
    start = text.find("{")
    attempts = 0
    while start != -1 and attempts < MAX_JSON_ATTEMPTS:
        attempts += 1
        try:
            obj, _ = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)  # pragma: no cover - raw_decode at "{" always yields a dict
    return None


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DEFAULT_CONFIDENCE
    number = float(value)
    if math.isnan(number):
        return DEFAULT_CONFIDENCE
    return min(1.0, max(0.0, number))


def parse_decision(response: Any) -> OrchestrationDecision:
    """Map a model answer to a decision; anything unusable gives :func:`parse_error`, never an exception."""
    if not isinstance(response, str):
        return parse_error()
    obj = first_json_object(response[:MAX_RESPONSE_CHARS])
    if obj is None:
        return parse_error()
    decision = obj.get("decision", "route")
    if not isinstance(decision, str) or decision.strip().lower() not in DECISION_TYPES:
        return parse_error()
    targets = obj.get("targets", [])
    if (
        not isinstance(targets, list)
        or len(targets) > MAX_TARGETS
        or not all(isinstance(t, str) and 0 < len(t) <= MAX_TARGET_CHARS for t in targets)
    ):
        return parse_error()
    reason = obj.get("reason", "llm_decision")
    reason = reason if isinstance(reason, str) else json.dumps(reason, default=str)[:MAX_REASON_CHARS]
    # a custom provider's text, or a JSON escape, can hold a lone surrogate: the decision goes into the run's
    # history and mining events, so its text is made valid Unicode here (see llmteam._text.unicode_text)
    return OrchestrationDecision(
        decision.strip().lower(), [unicode_text(t) for t in targets], unicode_text(reason[:MAX_REASON_CHARS]),
        _confidence(obj.get("confidence")),
    )


class LLMBasedStrategy(OrchestrationStrategy):
    """Ask a model for the next decision; any malformed answer yields the ``llm_parse_error`` fallback."""

    def __init__(self, llm: TextGenerator, prompt_template: str | None = None) -> None:
        self.llm = llm
        self.prompt_template = prompt_template if prompt_template is not None else DEFAULT_PROMPT_TEMPLATE

    def build_prompt(self, context: OrchestrationContext) -> str:
        """The template filled with the context (unknown placeholders and literal braces kept)."""
        values = {
            "current_step": context.current_step,
            "agents": context.available_agents,
            "states": context.agent_states,
            "history": context.execution_history[-5:],
            "error_rate": context.error_rate,
            "global_state": context.global_state,
            "retry_count": context.retry_count,
            "step_duration": context.step_duration,
        }
        return safe_format(self.prompt_template, values)

    async def decide(self, context: OrchestrationContext) -> OrchestrationDecision:
        """Prompt the model and parse its answer; errors raised by the model itself propagate."""
        response = await self.llm.generate(self.build_prompt(context))
        return parse_decision(response)
