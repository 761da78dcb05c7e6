"""Token and cost accounting: :class:`Usage` figures and a configurable :class:`PriceTable`.

Prices are per 1,000 tokens (``prompt_per_1k``, ``completion_per_1k``), in the table's ``currency``; a mapping
may give per-million prices instead (``prompt_per_1m``, ``completion_per_1m``, as most providers publish them).
A completion is priced by the model that was **requested** first, then by the model the server says it used,
then by either one's base form (a dated suffix such as ``-2024-07-18`` or ``-latest`` dropped, a ``provider/``
prefix dropped), then by the default (``"*"``) when one is set. A completion with no price at all is counted in
``Usage.unpriced`` (and logged once per model): its cost is unknown, never a silent zero.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.team._errors import TeamConfigError

logger = logging.getLogger(__name__)
_DATED = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-latest|@[\w.-]+)$")
MAX_WARNED_MODELS = 1000
MAX_PRICE_PER_1K = 1_000_000.0  # in any currency: far above any model's price, far below a float's overflow


def base_model_name(model: str) -> str:
    """``model`` without provider prefix or dated suffix: ``openai/gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``."""
    return _DATED.sub("", model.rsplit("/", 1)[-1])


@dataclass
class Usage:
    """Tokens, requests and cost (in the price table's currency) of a step, an agent, a run or a tenant.

    ``tool_calls`` and ``tool_ms`` count the tool calls that ran (failed ones included) and their time; their price
    is in ``cost``. ``tool_denied`` counts the calls the governance refused (policy, sealed data, approval, rate
    limit, call cap), ``tool_failed`` the allowed ones that did not succeed (invalid arguments, raised, timed out).
    ``unpriced`` counts the requests whose model has no price: their cost is unknown and not in ``cost``.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cost: float = 0.0
    tool_calls: int = 0
    tool_ms: float = 0.0
    unpriced: int = 0
    tool_denied: int = 0
    tool_failed: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> Usage:
        """Add ``other`` into this figure in place and return self."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.cost = round(self.cost + other.cost, 10)
        self.tool_calls += other.tool_calls
        self.tool_ms = round(self.tool_ms + other.tool_ms, 3)
        self.unpriced += other.unpriced
        self.tool_denied += other.tool_denied
        self.tool_failed += other.tool_failed
        return self

    @property
    def priced(self) -> bool:
        """True when every request had a price (``cost`` is the whole cost)."""
        return self.unpriced == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "requests": self.requests,
            "cost": self.cost,
            "tool_calls": self.tool_calls,
            "tool_ms": self.tool_ms,
            "tool_denied": self.tool_denied,
            "tool_failed": self.tool_failed,
            "unpriced_requests": self.unpriced,
        }


@dataclass(frozen=True)
class Price:
    """Price per 1,000 prompt tokens and per 1,000 completion tokens (in the price table's currency)."""

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0


def _number(model: str, name: str, value: Any, most: float) -> float:
    """A price figure: a finite number from 0 to ``most``, else TeamConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= most:
        raise TeamConfigError(
            f"price for model {bounded_repr(model)}: {name}={bounded_repr(value)} must be a number from 0 to {most:g}"
        )
    return float(value)


def _price(model: str, value: Any) -> Price:
    if isinstance(value, Price):
        value = (value.prompt_per_1k, value.completion_per_1k)
    if isinstance(value, Mapping):
        per_1k, per_1m = {"prompt_per_1k", "completion_per_1k"}, {"prompt_per_1m", "completion_per_1m"}
        unknown = set(value) - per_1k - per_1m
        if unknown or (set(value) & per_1k and set(value) & per_1m):
            raise TeamConfigError(
                f"price for model {bounded_repr(model)} has unknown or mixed field(s) "
                f"{bounded_repr(sorted(value, key=str))}; use prompt_per_1k, completion_per_1k (per 1,000 tokens) "
                "or prompt_per_1m, completion_per_1m"
            )
        if set(value) & per_1m:
            return Price(*(_number(model, name, value.get(name, 0.0), MAX_PRICE_PER_1K * 1000) / 1000.0
                           for name in ("prompt_per_1m", "completion_per_1m")))
        value = (value.get("prompt_per_1k", 0.0), value.get("completion_per_1k", 0.0))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Price(*(_number(model, name, v, MAX_PRICE_PER_1K)
                       for name, v in zip(("prompt_per_1k", "completion_per_1k"), value, strict=True)))
    raise TeamConfigError(
        f"price for model {bounded_repr(model)} is {bounded_repr(value)}; give (prompt_per_1k, completion_per_1k) or a "
        "mapping of those"
    )


class PriceTable:
    """Prices per 1,000 tokens by model name, in ``currency``; ``"*"`` (or ``default=``) prices any other model.

    ``PriceTable({"gpt-4o-mini": {"prompt_per_1m": 0.15, "completion_per_1m": 0.60}}, currency="USD")``; a tuple
    is ``(prompt_per_1k, completion_per_1k)``. Without a default, a model that is not listed is *unpriced*.
    """

    def __init__(self, prices: Mapping[str, Any] | None = None, *, default: Any = None,
                 currency: str = "USD") -> None:
        table = dict(prices or {})
        if "*" in table:
            default = table.pop("*")
        self._prices = {str(model): _price(str(model), value) for model, value in table.items()}
        self.default: Price | None = None if default is None else _price("*", default)
        self.currency = currency
        self._warned: set[str] = set()

    def lookup(self, model: str, requested: str | None = None) -> Price | None:
        """The price of a completion: the requested model's first, then the served model's, then either one's
        base form (dated suffix / provider prefix dropped), then the default; None when it has no price."""
        names = [n for n in (requested, model) if n]
        for name in [*names, *(base_model_name(n) for n in names)]:
            if name in self._prices:
                return self._prices[name]
        return self.default

    def price_for(self, model: str) -> Price:
        """The price of ``model`` (free when it has none: use :meth:`lookup` to tell the difference)."""
        return self.lookup(model) or Price()

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, *,
             requested: str | None = None) -> float | None:
        """The cost of one completion rounded to 10 places, or None (logged once per model) when it has no price."""
        p = self.lookup(model, requested)
        if p is None:
            key = requested or model
            if key not in self._warned and len(self._warned) < MAX_WARNED_MODELS:
                self._warned.add(key)
                logger.warning("no price for model %r (served as %r): its runs are flagged unpriced; add it to the "
                               "team's prices (per 1,000 tokens, %s)", key, model, self.currency)
            return None
        try:
            cost = round((prompt_tokens * p.prompt_per_1k + completion_tokens * p.completion_per_1k) / 1000.0, 10)
        except OverflowError:  # a token count beyond any float: a provider's bogus report
            cost = math.inf
        if not math.isfinite(cost):  # never an infinite cost: it would poison every total it is added to
            logger.warning("the cost of a completion of model %r (%s + %s tokens) is out of range: counted as "
                           "unpriced", (requested or model)[:200], prompt_tokens, completion_tokens)
            return None
        return cost

    def to_dict(self) -> dict[str, Any]:
        """The table as plain data, per 1,000 tokens (``"*"`` is the default when one is set)."""
        out: dict[str, Any] = {m: [p.prompt_per_1k, p.completion_per_1k] for m, p in self._prices.items()}
        if self.default is not None:
            out["*"] = [self.default.prompt_per_1k, self.default.completion_per_1k]
        return out


def completion_usage(prices: PriceTable, completion: Any, requested: str) -> tuple[str, Usage]:
    """(served model, usage) of one completion, priced by the ``requested`` model first (see the module doc)."""
    model = completion.model or requested
    tokens = completion.usage
    cost = prices.cost(model, tokens.prompt_tokens, tokens.completion_tokens, requested=requested)
    return model, Usage(tokens.prompt_tokens, tokens.completion_tokens, 1, cost or 0.0, unpriced=int(cost is None))
