"""Benchmark llmteam.ratelimit: in-memory admit path, pacing accuracy, Redis decisions per connection.

python benchmarks/bench_ratelimit.py [--duration 10] [--redis-url redis://127.0.0.1:6379/15] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from rich.console import Console
from rich.table import Table

from llmteam.ratelimit import RateLimitConfig, RateLimiter, RateLimitStrategy, RedisRateLimitBackend

HIGH = dict(requests_per_second=1e9, requests_per_minute=1e15, requests_per_hour=1e15, burst_size=1_000_000)


async def memory_admit_path(n: int) -> float:
    lim = RateLimiter("bench", RateLimitConfig(**HIGH))  # type: ignore[arg-type]
    acquire, release = lim.acquire, lim.release
    start = time.perf_counter()
    for _ in range(n):
        await acquire()
        release()
    return n / (time.perf_counter() - start)


async def accuracy(duration: float, rate: float, tasks: int) -> tuple[float, int, int]:
    burst = 10
    config = RateLimitConfig(
        requests_per_second=rate,
        requests_per_minute=1e12,
        requests_per_hour=1e12,
        burst_size=burst,
        strategy=RateLimitStrategy.WAIT,
        max_wait_seconds=3600,
    )
    lim = RateLimiter("accuracy", config)
    start = time.monotonic()
    end = start + duration
    admitted = 0

    async def worker() -> None:
        nonlocal admitted
        while True:
            async with lim:
                if time.monotonic() > end:
                    return
                admitted += 1

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return (admitted - burst) / duration, admitted, burst + int(rate * duration)


async def redis_decisions(url: str, n: int) -> tuple[float, float]:
    backend = RedisRateLimitBackend(url, prefix=f"bench_{uuid.uuid4().hex[:8]}")
    lim = RateLimiter("bench", RateLimitConfig(**HIGH), backend=backend)  # type: ignore[arg-type]
    trips = 0
    run = backend.run

    async def counting_run(awaitable: object) -> object:  # every command of the backend goes through run()
        nonlocal trips
        trips += 1
        return await run(awaitable)

    backend.run = counting_run  # type: ignore[method-assign]
    await lim.acquire()
    lim.release()
    trips = 0
    start = time.perf_counter()
    for _ in range(n):
        await lim.acquire()
        lim.release()
    elapsed = time.perf_counter() - start
    await asyncio.sleep(0.01)
    await backend.aclose()
    return n / elapsed, trips / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="accuracy run length in seconds")
    parser.add_argument("--rate", type=float, default=200.0, help="configured rate of the accuracy run")
    parser.add_argument("--tasks", type=int, default=100, help="concurrent tasks of the accuracy run")
    parser.add_argument("--decisions", type=int, default=500_000, help="in-memory decisions to time")
    parser.add_argument("--redis-decisions", type=int, default=20_000)
    parser.add_argument("--redis-url", default=os.environ.get("LLMTEAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    table = Table(title="llmteam.ratelimit")
    for col in ("figure", "measured", "target", "ok?"):
        table.add_column(col)

    mem = max(asyncio.run(memory_admit_path(args.decisions)) for _ in range(3))
    table.add_row("in-memory admit path (acquire+release)", f"{mem:,.0f}/s", ">= 500,000/s", _ok(mem >= 500_000))

    rate, admitted, ceiling = asyncio.run(accuracy(args.duration, args.rate, args.tasks))
    err = (rate - args.rate) / args.rate
    table.add_row(
        f"accuracy: {args.tasks} tasks, {args.duration:g}s at {args.rate:g}/s",
        f"{rate:,.1f}/s ({err:+.2%}); {admitted} admitted",
        f"within 2%, never above {ceiling}",
        _ok(abs(err) <= 0.02 and admitted <= ceiling),
    )
    if not args.no_redis:
        try:
            per_s, cmds = asyncio.run(redis_decisions(args.redis_url, args.redis_decisions))
        except Exception as exc:  # report and carry on: the server may be down
            table.add_row("Redis decisions per connection", f"error: {exc}", ">= 8,000/s", "no")
        else:
            table.add_row("Redis decisions per connection", f"{per_s:,.0f}/s", ">= 8,000/s", _ok(per_s >= 8000))
            table.add_row("Redis round trips per decision", f"{cmds:.3f}", "1", _ok(cmds <= 1.01))
    Console().print(table)


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


if __name__ == "__main__":
    main()
