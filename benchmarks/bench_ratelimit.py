"""Benchmark llmteam.ratelimit: in-memory admit path, pacing accuracy, Redis decisions per connection, and the
peers side by side (short rounds, the sides in turn; the ratio is the median of the rounds' ratios peer/ours: above
1 means llmteam is faster).

python benchmarks/bench_ratelimit.py [--duration 10] [--redis-url redis://127.0.0.1:6379/15] [--no-redis | --peers-only]

Peers (benchmark only, never dependencies): ``aiolimiter`` (in-memory acquire) and ``limits`` FixedWindow on
Redis through its async redis-py storage. They are used when importable (``pip install limits aiolimiter``
into the dev venv; both import cleanly beside llmteam); otherwise their rows say how to install them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import NamedTuple

from _machine import halt_polling
from _peers import side_by_side
from rich.console import Console
from rich.table import Table

from llmteam.backends.redis import RedisReply
from llmteam.ratelimit import RateLimitConfig, RateLimiter, RateLimitStrategy, RedisRateLimitBackend
from llmteam.ratelimit._bucket import late_credit
from llmteam.ratelimit.stores._memory import MemoryLimiterState
from llmteam.ratelimit.stores._redis_wire import ScriptCall, reply_numbers

_EPS = 1e-4  # tokens: rounding of server times (~1.8e9 s, 0.24 µs apart as doubles) in the window check
HIGH = dict(requests_per_second=1e9, requests_per_minute=1e15, requests_per_hour=1e15, burst_size=1_000_000)


def _paced(rate: float, burst: int) -> RateLimitConfig:
    """WAIT at ``rate``/s with bucket ``burst``; windows the bucket alone keeps (untracked)."""
    return RateLimitConfig(
        requests_per_second=rate, requests_per_minute=1e12, requests_per_hour=1e12, burst_size=burst,
        strategy=RateLimitStrategy.WAIT, max_wait_seconds=3600,
    )


async def memory_admit_path(n: int) -> float:
    lim = RateLimiter("bench", RateLimitConfig(**HIGH))  # type: ignore[arg-type]
    acquire, release = lim.acquire, lim.release
    start = time.perf_counter()
    for _ in range(n):
        await acquire()
        release()
    return n / (time.perf_counter() - start)


@contextlib.contextmanager
def proceeds_of(lim: RateLimiter, times: list[float]) -> Iterator[float]:
    """While active, append to ``times`` the moment each admission of in-memory ``lim`` proceeds (its decision
    time, or for a token reserved ahead the moment it is due); yields the time its bucket was created."""
    state = lim._local
    assert state is not None
    try_admit = MemoryLimiterState.try_admit

    def recording(self: MemoryLimiterState, now: float, due: bool = False) -> bool:
        admitted = try_admit(self, now, due)
        if admitted and self is state:
            times.append(now + max(0.0, -self.tokens) / self.rate)
        return admitted

    MemoryLimiterState.try_admit = recording  # type: ignore[method-assign]
    try:
        yield state.stamp
    finally:
        MemoryLimiterState.try_admit = try_admit  # type: ignore[method-assign]


def bound_excess(times: list[float], created: float, burst: int, rate: float) -> float:
    """How far admissions proceeding at ``times`` overstep the limiter's bounds (<= 0: never; in tokens).

    Two bounds (docs/ratelimit.md, counting each admission when it proceeds: at its decision, or for a token
    reserved ahead when the token is due): from the bucket's creation to any admission, at most
    ``burst + rate * span``; in any window, at most ``burst + rate * (span + late credit)``. The second is checked
    for every pair at once: ``j - i + 1 - rate * (t_j - t_i)`` is largest where ``i - rate * t_i`` is smallest.
    """
    credit = late_credit(rate)
    times = sorted(times)
    worst = -math.inf
    lowest = math.inf  # min over i <= j of (i - rate * (t_i - created))
    for j, t in enumerate(times):
        x = j - rate * (t - created)
        worst = max(worst, (j + 1) - burst - rate * (t - created))  # since creation
        lowest = min(lowest, x)
        worst = max(worst, x - lowest + 1 - burst - rate * credit)  # the window [t_i, t_j]
    return worst


async def accuracy(duration: float, rate: float, tasks: int) -> tuple[float, int, int, float]:
    """``tasks`` tasks through one in-memory limiter (burst 10): the rate delivered, the admissions, the bound
    on them over the run, and :func:`bound_excess` over every window of the run."""
    burst = 10
    lim = RateLimiter("accuracy", _paced(rate, burst))
    start = time.monotonic()
    end = start + duration
    times: list[float] = []
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            async with lim:
                if time.monotonic() > end:
                    done += 1
                    return

    with proceeds_of(lim, times) as created:
        await asyncio.gather(*(worker() for _ in range(tasks)))
    admitted = len(times) - done  # the last admission of each task, past the end, counts for the bound only
    return (admitted - burst) / duration, admitted, burst + int(rate * duration), bound_excess(times, created, burst,
                                                                                                rate)


async def redis_decisions(url: str, n: int) -> tuple[float, float]:
    backend = RedisRateLimitBackend(url, prefix=f"bench_{uuid.uuid4().hex[:8]}")
    lim = RateLimiter("bench", RateLimitConfig(**HIGH), backend=backend)  # type: ignore[arg-type]
    trips = 0
    round_trip = backend._round_trip

    async def counting(packed: list[bytes]) -> RedisReply:  # every command of the backend is one _round_trip()
        nonlocal trips
        trips += 1
        return await round_trip(packed)

    backend._round_trip = counting  # type: ignore[method-assign]
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


class BurstOne(NamedTuple):
    share: float  # admissions per second as a fraction of the rate (the first, the full bucket's, not counted)
    admitted: int
    excess: float  # bound_excess() of the run's decision times: <= 0 when no window ever held too many
    rtt_ms: tuple[float, float]  # Redis decision round trips of the run, median and 90th percentile


async def burst_one_delivery(backend_url: str | None, rate: float, duration: float) -> BurstOne:
    """Burst 1, WAIT, one task acquiring and releasing in a loop for ``duration`` seconds.

    Decision times: the in-memory limiter's clock at each admission; on Redis the server's own ``TIME`` at each
    admission, from the script's replies (the bucket is created at the first one).
    """
    backend = None if backend_url is None else RedisRateLimitBackend(backend_url, prefix=f"b1_{uuid.uuid4().hex[:8]}")
    config = _paced(rate, 1)
    lim = RateLimiter("burst1", config, backend=backend)
    times: list[float] = []
    rtts: list[float] = []
    if backend is not None:  # connect and load the script outside the timing, on another limit of the backend
        warm = RateLimiter("warm-up", config, backend=backend)
        async with warm:
            pass
        run_script = backend.run_script

        async def recording(call: ScriptCall, args: Sequence[str]) -> RedisReply:
            sent = time.perf_counter()
            reply = await run_script(call, args)
            rtts.append(time.perf_counter() - sent)
            if call.script == "acquire.lua":
                admitted, wait, _, seconds, micros = reply_numbers(reply, 5, call.script)
                if admitted == 1.0:  # the server's TIME, plus the wait of a reserved token
                    times.append(seconds + micros / 1_000_000 + wait)
            return reply

        backend.run_script = recording  # type: ignore[method-assign]
    with contextlib.ExitStack() as stack:
        created = stack.enter_context(proceeds_of(lim, times)) if backend is None else 0.0
        start = time.monotonic()
        while time.monotonic() - start < duration:
            async with lim:
                pass
        elapsed = time.monotonic() - start
    if backend is not None:
        await backend.aclose()
        created = times[0]  # a new limit's bucket is created, full, at its first decision
    rtt = sorted(rtts) or [math.nan]
    return BurstOne(
        (len(times) - 1) / elapsed / rate,
        len(times),
        bound_excess(times, created, 1, rate),
        (rtt[len(rtt) // 2] * 1e3, rtt[len(rtt) * 9 // 10] * 1e3),
    )


async def memory_vs_aiolimiter(n: int, rounds: int) -> tuple[float, float, float]:
    from aiolimiter import AsyncLimiter

    async def ours() -> Callable[[], Awaitable[object]]:
        lim = RateLimiter("bench", RateLimitConfig(**HIGH))  # type: ignore[arg-type]
        acquire, release = lim.acquire, lim.release

        async def call() -> None:
            await acquire()
            release()

        return call

    async def peer() -> Callable[[], Awaitable[object]]:
        return AsyncLimiter(1e9, 1).acquire  # aiolimiter has no held permits: acquire is the whole cycle

    return await side_by_side(ours, peer, n, rounds)


async def redis_vs_limits(
    url: str, n: int, rounds: int, config: RateLimitConfig | None = None
) -> tuple[float, float, float]:
    """µs per decision, ours and ``limits``' FixedWindow on the same server. ``config``: ours (default: limits so
    high that nothing is refused; the default RateLimitConfig also tracks the minute and hour windows)."""
    from limits import RateLimitItemPerSecond
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter

    backends: list[RedisRateLimitBackend] = []
    storage = RedisStorage(url.replace("redis://", "async+redis://", 1), implementation="redispy")
    peer_limiter, item = FixedWindowRateLimiter(storage), RateLimitItemPerSecond(10**9)

    async def ours() -> Callable[[], Awaitable[object]]:
        backend = RedisRateLimitBackend(url, prefix=f"bench_{uuid.uuid4().hex[:8]}")
        backends.append(backend)
        lim = RateLimiter("bench", config or RateLimitConfig(**HIGH), backend=backend)  # type: ignore[arg-type]
        await lim.acquire()  # connect and load the script outside the timing
        lim.release()

        async def call() -> None:
            await lim.acquire()  # admitted, or (beyond a tracked window's limit) refused: a decision either way
            lim.release()

        return call

    async def peer() -> Callable[[], Awaitable[object]]:
        key = uuid.uuid4().hex
        await peer_limiter.hit(item, key)

        async def call() -> bool:
            return await peer_limiter.hit(item, key)

        return call

    try:
        return await side_by_side(ours, peer, n, rounds)
    finally:
        for backend in backends:
            await backend.aclose()


def _peer_row(table: Table, label: str, run: Callable[[], tuple[float, float, float]], peer: str) -> None:
    try:
        ours_us, peer_us, ratio = run()
    except ImportError:
        table.add_row(label, f"{peer} not installed (pip install limits aiolimiter)", ">= 1.0x", "n/a")
        return
    except Exception as exc:  # report and carry on: the server may be down
        table.add_row(label, f"error: {exc}", ">= 1.0x", "no")
        return
    measured = f"{ours_us:.1f} µs vs {peer_us:.1f} µs (medians); pairs' median {ratio:.2f}x"
    table.add_row(label, measured, ">= 1.0x", _ok(ratio >= 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="accuracy run length in seconds")
    parser.add_argument("--rate", type=float, default=200.0, help="configured rate of the accuracy run")
    parser.add_argument("--tasks", type=int, default=100, help="concurrent tasks of the accuracy run")
    parser.add_argument("--decisions", type=int, default=500_000, help="in-memory decisions to time (per side)")
    parser.add_argument("--redis-decisions", type=int, default=20_000, help="Redis decisions to time (per side)")
    parser.add_argument("--redis-url", default=os.environ.get("LLMTEAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--peers-only", action="store_true", help="only the rows side by side with limits/aiolimiter")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of each side-by-side figure (sides in turn)")
    parser.add_argument("--burst1-rate", type=float, default=100.0, help="rate of the burst-1 delivery runs")
    parser.add_argument("--burst1-seconds", type=float, default=4.0, help="length of one burst-1 run (<= duration)")
    parser.add_argument("--burst1-rounds", type=int, default=3, help="alternating memory/Redis burst-1 rounds")
    args = parser.parse_args()

    load = os.getloadavg()
    title = f"llmteam.ratelimit (load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}{halt_polling()})"
    table = Table(title=title)
    for col in ("figure", "measured", "target", "ok?"):
        table.add_column(col)

    if not args.peers_only:
        mem = max(asyncio.run(memory_admit_path(args.decisions)) for _ in range(3))
        table.add_row("in-memory admit path (acquire+release)", f"{mem:,.0f}/s", ">= 500,000/s", _ok(mem >= 500_000))

        rate, admitted, ceiling, excess = asyncio.run(accuracy(args.duration, args.rate, args.tasks))
        err = (rate - args.rate) / args.rate
        table.add_row(
            f"accuracy: {args.tasks} tasks, {args.duration:g}s at {args.rate:g}/s",
            f"{rate:,.1f}/s ({err:+.2%}); {admitted} admitted; worst window {excess:+.4f} tokens vs its bound",
            f"within 2%, never above {ceiling}, no window above its bound",
            _ok(abs(err) <= 0.02 and admitted <= ceiling and excess <= _EPS),
        )
    _peer_row(
        table,
        "in-memory acquire+release vs aiolimiter acquire",
        lambda: asyncio.run(memory_vs_aiolimiter(max(1, args.decisions // args.rounds), args.rounds)),
        "aiolimiter",
    )
    if not args.peers_only:
        _burst_one_rows(table, args)
    if not args.no_redis:
        per_round = max(1, args.redis_decisions // args.rounds)
        _peer_row(
            table,
            "Redis decision vs limits FixedWindow (async, redis-py)",
            lambda: asyncio.run(redis_vs_limits(args.redis_url, per_round, args.rounds)),
            "limits",
        )
        # limits the bucket could exceed, so both windows are tracked (and updated by every admission), yet so high
        # that none is reached in the run: every decision is an admission, like the peer's
        tracked = RateLimitConfig(
            requests_per_second=1e9, requests_per_minute=1e10, requests_per_hour=1e12, burst_size=1_000_000
        )
        _peer_row(
            table,
            "  the same with the minute and hour windows tracked",
            lambda: asyncio.run(
                redis_vs_limits(args.redis_url, per_round, args.rounds, tracked)
            ),
            "limits",
        )
        try:
            per_s, cmds = asyncio.run(redis_decisions(args.redis_url, args.redis_decisions))
        except Exception as exc:  # report and carry on: the server may be down
            table.add_row("Redis decisions per connection", f"error: {exc}", ">= 8,000/s", "no")
        else:
            table.add_row("Redis decisions per connection", f"{per_s:,.0f}/s", ">= 8,000/s", _ok(per_s >= 8000))
            table.add_row("Redis round trips per decision", f"{cmds:.3f}", "1", _ok(cmds <= 1.01))
    Console().print(table)
    one, five, fifteen = os.getloadavg()
    print(f"load average at the end: {one:.2f} {five:.2f} {fifteen:.2f}")


def _burst_one_rows(table: Table, args: argparse.Namespace) -> None:
    """Burst-1 delivery, memory and Redis in alternating rounds (medians), each run's windows checked."""
    sides: dict[str, str | None] = {"memory": None}
    if not args.no_redis:
        sides["Redis"] = args.redis_url
    runs: dict[str, list[BurstOne]] = {label: [] for label in sides}
    seconds = min(args.duration, args.burst1_seconds)
    for _ in range(args.burst1_rounds):
        for label, url in sides.items():
            try:
                runs[label].append(asyncio.run(burst_one_delivery(url, args.burst1_rate, seconds)))
            except Exception as exc:  # report and carry on: the server may be down
                table.add_row(f"burst 1 delivery ({label})", f"error: {exc}", ">= 99%", "no")
                return
    for label, results in runs.items():
        share = statistics.median(r.share for r in results)
        excess = max(r.excess for r in results)
        shares = ", ".join(f"{r.share:.2%}" for r in results)
        rtt = ""
        if sides[label] is not None:
            median, p90 = (statistics.median(r.rtt_ms[k] for r in results) for k in (0, 1))
            rtt = f"; decision RTT median {median:.2f} ms, p90 {p90:.2f} ms"
        table.add_row(
            f"burst 1 delivery ({label}, {args.burst1_rate:g}/s, {len(results)} x {seconds:g}s, median)",
            f"{share:.2%} of the rate ({shares}); worst window {excess:+.4f} vs its bound{rtt}",
            ">= 99%, no window above its bound",
            _ok(share >= 0.99 and excess <= _EPS),
        )


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


if __name__ == "__main__":
    main()
