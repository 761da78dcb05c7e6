"""Usage arithmetic and the price table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.team import Price, PriceTable, TeamConfigError, Usage


def test_price_table_lookup_and_default() -> None:
    table = PriceTable({"gpt": (1.0, 2.0), "small": {"prompt_per_1k": 0.1}, "*": (0.5, 0.5)})
    assert table.price_for("gpt") == Price(1.0, 2.0)
    assert table.price_for("small") == Price(0.1, 0.0)
    assert table.price_for("other") == Price(0.5, 0.5)
    assert table.cost("gpt", 1000, 500) == 2.0
    assert PriceTable().cost("anything", 10_000, 10_000) == 0.0
    assert table.to_dict()["*"] == [0.5, 0.5]


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
