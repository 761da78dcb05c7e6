"""Retry-After parsing and backoff bounds."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.llm import backoff_delay, parse_retry_after


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    for bad in (None, "", "soon", "nan"):
        assert parse_retry_after(bad) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_retry_after_never_crashes(text: str) -> None:
    value = parse_retry_after(text)
    assert value is None or value >= 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100), st.floats(0.001, 5), st.floats(0.001, 60), st.integers(0, 2**32))
def test_backoff_bounded(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = backoff_delay(attempt, base, cap, rng=random.Random(seed))
    ceiling = min(cap, base * 2.0**attempt)
    assert ceiling * 0.5 <= delay <= ceiling
