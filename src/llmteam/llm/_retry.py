"""Retry timing for HTTP providers: exponential backoff with jitter, and ``Retry-After`` parsing."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or unparsable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff_delay(attempt: int, base: float, cap: float, *, rng: random.Random | None = None) -> float:
    """Delay before retry ``attempt`` (0-based): ``min(cap, base * 2**attempt)`` scaled by jitter in [0.5, 1]."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 30))
    jitter = rng.random() if rng is not None else random.random()
    return ceiling * (0.5 + 0.5 * jitter)
