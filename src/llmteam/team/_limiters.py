"""The rate limiters of one runtime: one per tenant and provider (or tool), LRU-bounded."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from llmteam.llm import LLMProvider
from llmteam.ratelimit import RateLimitConfig, RateLimiter, RateLimitStrategy
from llmteam.team._run import provider_key


class Limiters:
    """Limiters keyed by (tenant, name) at ``per_minute``; at most ``max_limiters`` kept (least recent dropped)."""

    def __init__(self, strategy: RateLimitStrategy, max_wait: float, max_limiters: int) -> None:
        self.strategy = strategy
        self.max_wait = max_wait
        self.max_limiters = max_limiters
        self.backend: Any = None  # a shared rate-limit backend (Redis) once the runtime opens one
        self._limiters: OrderedDict[tuple[str, str], tuple[float, RateLimiter]] = OrderedDict()

    def for_provider(self, tenant_id: str, llm: LLMProvider, per_minute: float) -> RateLimiter:
        """The tenant's limiter for the provider endpoint ``llm``."""
        return self.named(tenant_id, provider_key(llm), per_minute)

    def named(self, tenant_id: str, name: str, per_minute: float) -> RateLimiter:
        """The tenant's limiter called ``name`` at ``per_minute`` (rebuilt when the rate changes)."""
        key = (tenant_id, name)
        entry = self._limiters.get(key)
        if entry is None or entry[0] != per_minute:
            config = RateLimitConfig(
                requests_per_second=per_minute / 60.0, requests_per_minute=per_minute,
                requests_per_hour=per_minute * 60.0, burst_size=max(1, min(int(per_minute), 1000)),
                strategy=self.strategy, max_wait_seconds=self.max_wait,
            )
            entry = (per_minute, RateLimiter(f"llmteam:{tenant_id}:{key[1]}", config, backend=self.backend))
            self._limiters[key] = entry
            while len(self._limiters) > self.max_limiters:
                self._limiters.popitem(last=False)
        self._limiters.move_to_end(key)
        return entry[1]
