"""A settable clock, and the real Redis backend with the server's ``TIME`` replaced by it (test-only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmteam.ratelimit import RedisRateLimitBackend
from llmteam.ratelimit.stores._redis_wire import ScriptCall


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ServerClockRedisBackend(RedisRateLimitBackend):
    """Real Redis, real scripts, with the server's TIME replaced by ``fake_time`` (test-only subclass)."""

    def __init__(self, url: str, fake_time: FakeClock, **kw: Any) -> None:
        super().__init__(url, **kw)
        self.fake_time = fake_time

    def script_source(self, script: str) -> str:
        text = super().script_source(script)
        if "redis.call('TIME')" not in text:
            return text
        assert text.count("redis.call('TIME')") == 1, script
        return text.replace("redis.call('TIME')", "{table.remove(ARGV), '0'}")

    async def run_script(self, call: ScriptCall, args: Sequence[str]) -> Any:
        if "redis.call('TIME')" in super().script_source(call.script):
            args = [*args, repr(self.fake_time())]
        return await super().run_script(call, args)
