"""Token and cost accounting: :class:`Usage` figures and a configurable :class:`PriceTable`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.team._errors import TeamConfigError


@dataclass
class Usage:
    """Tokens, requests and cost (in the price table's currency) of a step, an agent, a run or a tenant.

    ``tool_calls`` and ``tool_ms`` count the tool calls that ran and their time; their price is in ``cost``.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cost: float = 0.0
    tool_calls: int = 0
    tool_ms: float = 0.0

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
        return self

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
        }


@dataclass(frozen=True)
class Price:
    """Price per 1,000 prompt tokens and per 1,000 completion tokens."""

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0


def _price(model: str, value: Any) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"prompt_per_1k", "completion_per_1k"}
        if unknown:
            raise TeamConfigError(
                f"price for model {bounded_repr(model)} has unknown field(s) {bounded_repr(sorted(unknown, key=str))}; "
                "use prompt_per_1k, completion_per_1k"
            )
        value = (value.get("prompt_per_1k", 0.0), value.get("completion_per_1k", 0.0))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        prompt, completion = value
        for name, v in (("prompt_per_1k", prompt), ("completion_per_1k", completion)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise TeamConfigError(
                    f"price for model {bounded_repr(model)}: {name}={bounded_repr(v)} must be a number >= 0"
                )
        return Price(float(prompt), float(completion))
    raise TeamConfigError(
        f"price for model {bounded_repr(model)} is {bounded_repr(value)}; give (prompt_per_1k, completion_per_1k) or a "
        "mapping of those"
    )


class PriceTable:
    """Prices by model name; a model not in the table uses ``default`` (free unless configured).

    ``PriceTable({"gpt-4o-mini": (0.15, 0.6), "*": (0.5, 1.5)})``: the key ``"*"`` sets the default too.
    """

    def __init__(self, prices: Mapping[str, Any] | None = None, *, default: Any = (0.0, 0.0)) -> None:
        table = dict(prices or {})
        if "*" in table:
            default = table.pop("*")
        self._prices = {str(model): _price(str(model), value) for model, value in table.items()}
        self.default = _price("*", default)

    def price_for(self, model: str) -> Price:
        """The price of ``model`` (the default when it is not listed)."""
        return self._prices.get(model, self.default)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of one completion, rounded to 10 decimal places."""
        p = self.price_for(model)
        return round((prompt_tokens * p.prompt_per_1k + completion_tokens * p.completion_per_1k) / 1000.0, 10)

    def to_dict(self) -> dict[str, Any]:
        """The table as plain data (``"*"`` is the default)."""
        out: dict[str, Any] = {m: [p.prompt_per_1k, p.completion_per_1k] for m, p in self._prices.items()}
        out["*"] = [self.default.prompt_per_1k, self.default.completion_per_1k]
        return out
