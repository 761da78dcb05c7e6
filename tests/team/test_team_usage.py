"""Usage arithmetic and the price table."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.llm import OpenAICompatible
from llmteam.team import Agent, Price, PriceTable, Team, TeamConfigError, Usage

from .._support.chat_server import text_server


def test_price_table_lookup_and_default() -> None:
    table = PriceTable({"gpt": (1.0, 2.0), "small": {"prompt_per_1k": 0.1}, "*": (0.5, 0.5)})
    assert table.price_for("gpt") == Price(1.0, 2.0)
    assert table.price_for("small") == Price(0.1, 0.0)
    assert table.price_for("other") == Price(0.5, 0.5)
    assert table.cost("gpt", 1000, 500) == 2.0
    assert PriceTable().cost("anything", 10_000, 10_000) is None  # unpriced, never a silent zero
    assert table.to_dict()["*"] == [0.5, 0.5]


def test_requested_model_first_then_dated_and_aliased_forms() -> None:
    table = PriceTable({"gpt-4o-mini": (1.0, 2.0), "gpt-4o-mini-2024-07-18": (9.0, 9.0), "llama3.1": (0.1, 0.1)})
    # the requested name wins over what the server says it served
    assert table.lookup("gpt-4o-mini-2024-07-18", requested="gpt-4o-mini") == Price(1.0, 2.0)
    assert table.lookup("gpt-4o-mini-2024-07-18") == Price(9.0, 9.0)
    # a dated / aliased / provider-prefixed form falls back to its base name
    for served in ("gpt-4o-mini-2025-01-31", "gpt-4o-mini-20250131", "gpt-4o-mini-latest", "openai/gpt-4o-mini"):
        assert table.lookup(served) == Price(1.0, 2.0), served
    assert table.lookup("llama3.1:8b-instruct", requested="llama3.1") == Price(0.1, 0.1)
    assert table.lookup("other-model") is None
    assert table.cost("gpt-4o-mini-2024-07-18", 1000, 1000, requested="gpt-4o-mini") == 3.0


def test_unpriced_is_flagged_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable({"known": (1.0, 1.0)})
    with caplog.at_level("WARNING", logger="llmteam.team._usage"):
        assert table.cost("mystery-2024-01-01", 10, 10, requested="mystery") is None
        assert table.cost("mystery-2024-01-01", 10, 10, requested="mystery") is None
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "'mystery'" in caplog.records[0].getMessage() and "per 1,000 tokens" in caplog.records[0].getMessage()
    total = Usage(10, 10, 1, 0.02).add(Usage(5, 5, 1, 0.0, unpriced=1))
    assert total.unpriced == 1 and not total.priced and total.to_dict()["unpriced_requests"] == 1


def test_the_unit_is_named_per_1k_or_per_1m() -> None:
    per_million = PriceTable({"gpt-4o-mini": {"prompt_per_1m": 0.15, "completion_per_1m": 0.60}}, currency="USD")
    per_thousand = PriceTable({"gpt-4o-mini": {"prompt_per_1k": 0.00015, "completion_per_1k": 0.0006}})
    assert per_million.lookup("gpt-4o-mini") == per_thousand.lookup("gpt-4o-mini")
    assert per_million.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert per_million.currency == "USD"
    with pytest.raises(TeamConfigError, match="mixed"):
        PriceTable({"m": {"prompt_per_1k": 1, "completion_per_1m": 1}})
    with pytest.raises(TeamConfigError, match="prompt_per_1m=-1"):  # the field as given
        PriceTable({"m": {"prompt_per_1m": -1}})


@pytest.mark.parametrize("bad", [(-1, 0), ("1", 0), (float("nan"), 0), (1, 2, 3), {"prompt": 1}, 5, (True, 0)])
def test_bad_prices(bad: object) -> None:
    with pytest.raises(TeamConfigError, match="model 'm'"):
        PriceTable({"m": bad})


counts = st.integers(0, 10**7)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(counts, counts), max_size=20), st.floats(0, 100), st.floats(0, 100))
def test_usage_sums_match_cost_of_totals(items: list[tuple[int, int]], p: float, c: float) -> None:
    table = PriceTable({"m": (p, c)})
    total = Usage()
    for prompt, completion in items:
        total.add(Usage(prompt, completion, 1, table.cost("m", prompt, completion)))
    assert total.requests == len(items)
    assert total.total_tokens == sum(a + b for a, b in items)
    assert total.cost == pytest.approx(table.cost("m", total.prompt_tokens, total.completion_tokens), rel=1e-6,
                                       abs=1e-6)
    assert total.to_dict()["total_tokens"] == total.total_tokens


def dated(model: str) -> str:
    return f"{model}-2024-07-18"


async def test_a_real_server_answering_with_a_dated_model_is_priced_by_the_requested_one() -> None:
    with text_server(lambda model, prompt: "billing", dated) as (base_url, seen):
        llm = OpenAICompatible(base_url=base_url, model="gpt-4o-mini", max_retries=0)
        team = Team("t", [Agent("a", prompt="Classify: {query}"), Agent("b", prompt="Reply as {a}")], llm=llm,
                    prices={"gpt-4o-mini": {"prompt_per_1m": 0.15, "completion_per_1m": 0.60}})
        async with team.runtime("memory://", tenant="acme") as rt:
            result = await rt.run({"query": "my invoice"})
        await llm.aclose()
    assert [body["model"] for body in seen] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert {step.model for step in result.steps} == {"gpt-4o-mini-2024-07-18"}
    assert result.usage.priced and result.usage.requests == 2
    assert result.usage.cost == pytest.approx(2 * (100 * 0.15 + 20 * 0.60) / 1_000_000)
    assert result.to_dict()["usage"]["unpriced_requests"] == 0


async def test_a_model_without_a_price_flags_the_run_unpriced(caplog: pytest.LogCaptureFixture) -> None:
    with text_server(lambda model, prompt: "ok", dated) as (base_url, _):
        llm = OpenAICompatible(base_url=base_url, model="llama3.1", max_retries=0)
        team = Team("t", [Agent("a", prompt="Hello {query}")], llm=llm, prices={"gpt-4o-mini": (0.15, 0.6)})
        with caplog.at_level("WARNING", logger="llmteam.team._usage"):
            async with team.runtime("memory://", tenant="acme") as rt:
                result = await rt.run({"query": "x"})
        await llm.aclose()
    assert result.usage.unpriced == 1 and not result.usage.priced and result.usage.cost == 0.0
    assert result.usage_by_agent["a"].unpriced == 1
    assert any("no price for model 'llama3.1'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("prices", [
    {"m": (1e308, 1e308)}, {"m": {"prompt_per_1k": 1_000_001}}, {"m": {"completion_per_1m": 1e12}},
    {"*": (0, 1e300)},
])
def test_a_price_past_any_real_one_is_refused(prices: dict[str, Any]) -> None:
    """``prompt_per_1k: 1e308`` loaded, made a run's cost ``inf`` and poisoned the tenant's total for good."""
    with pytest.raises(TeamConfigError, match="must be a number from 0 to 1e[+]0(6|9)"):
        PriceTable(prices)
    PriceTable({"m": (1_000_000, 1_000_000), "n": {"prompt_per_1m": 1e9}})  # the most, in any currency


@pytest.mark.parametrize("tokens", [10**400, 10**307], ids=["1e400", "1e307"])
def test_a_cost_out_of_range_is_unpriced_never_infinite(tokens: int, caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable({"m": (1_000_000, 1_000_000)})
    with caplog.at_level("WARNING", logger="llmteam.team._usage"):
        assert table.cost("m", tokens, 1) is None
    assert any("out of range" in r.getMessage() for r in caplog.records)
    total = Usage(cost=1.0).add(Usage(1, 1, 1, table.cost("m", tokens, 1) or 0.0, unpriced=1))
    assert total.cost == 1.0 and not total.priced
