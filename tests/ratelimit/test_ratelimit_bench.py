"""``benchmarks/bench_ratelimit.py`` still runs against this code: its Redis rows read the admission script's replies
(a reply format changed once and the burst-1 row broke without a test noticing). Behaviour only, never timing."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_ratelimit as bench  # noqa: E402


async def test_burst_one_on_redis_reads_each_admission_time_from_the_replies(redis_url: str) -> None:
    run = await bench.burst_one_delivery(redis_url, 200.0, 0.2)
    assert run.admitted >= 1  # the full bucket's token, at least, with the server's TIME of its decision
    assert run.excess <= bench._EPS  # no window of the run above its bound


async def test_redis_decisions_take_one_round_trip_each(redis_url: str) -> None:
    per_s, trips = await bench.redis_decisions(redis_url, 20)
    assert per_s > 0 and trips <= 21 / 20  # the last release goes alone: nothing follows it


async def test_side_by_side_takes_turns_and_reports_the_median_ratio_of_the_pairs() -> None:
    order: list[str] = []

    async def side(name: str, calls: int) -> object:
        async def call() -> None:
            order.append(name)

        return call

    ours_us, peer_us, ratio = await bench.side_by_side(lambda: side("o", 0), lambda: side("p", 0), 2, 4)
    assert order == ["o", "o", "p", "p", "p", "p", "o", "o", "o", "o", "p", "p", "p", "p", "o", "o"]  # ABBA
    assert ours_us > 0 and peer_us > 0 and ratio > 0
