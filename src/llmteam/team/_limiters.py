"""The rate limiters of one runtime: one per tenant, provider (or tool) and rate, LRU-bounded.

Two agents may give one tool (or provider) different rates: each rate keeps a limiter of its own, so a call at one
rate never replaces, and so resets, the state of another (a 1/minute tool stays 1/minute beside a 10/minute
declaration of the same tool).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from llmteam.llm import LLMProvider
from llmteam.ratelimit import RateLimitConfig, RateLimiter, RateLimitStrategy
from llmteam.team._run import provider_key


class Limiters:
    """Limiters keyed by (tenant, name, per_minute); at most ``max_limiters`` kept (least recent dropped)."""

    def __init__(self, strategy: RateLimitStrategy, max_wait: float, max_limiters: int) -> None:
        self.strategy = strategy
        self.max_wait = max_wait
        self.max_limiters = max_limiters
        self.backend: Any = None  # a shared rate-limit backend (Redis) once the runtime opens one
        self._limiters: OrderedDict[tuple[str, str, float], RateLimiter] = OrderedDict()

    def for_provider(self, tenant_id: str, llm: LLMProvider, per_minute: float) -> RateLimiter:
        """The tenant's limiter for the provider endpoint ``llm``."""
        return self.named(tenant_id, provider_key(llm), per_minute)

    def named(self, tenant_id: str, name: str, per_minute: float) -> RateLimiter:
        """The tenant's limiter called ``name`` at ``per_minute`` (one per rate: a shared backend keys it by both)."""
        key = (tenant_id, name, per_minute)
        limiter = self._limiters.get(key)
        if limiter is None:
            config = RateLimitConfig(
                requests_per_second=per_minute / 60.0, requests_per_minute=per_minute,
                requests_per_hour=per_minute * 60.0, burst_size=max(1, min(int(per_minute), 1000)),
                strategy=self.strategy, max_wait_seconds=self.max_wait,
            )
            limiter = RateLimiter(f"llmteam:{tenant_id}:{name}@{per_minute:g}/min", config, backend=self.backend)
            self._limiters[key] = limiter
            while len(self._limiters) > self.max_limiters:
                self._limiters.popitem(last=False)
        self._limiters.move_to_end(key)
        return limiter
