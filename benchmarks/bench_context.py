"""Benchmark llmteam.context hot paths against the issue's targets.

Run: ``python benchmarks/bench_context.py``. Prints one row per figure: measured, target, ok?
Figures are the best of several repeats (microseconds per call), measured with ``timeit``.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from llmteam.context import ContextAccessPolicy, SensitivityLevel, create_secure_context

REPEATS = 7
NUMBER = 50_000


def per_call_us(fn: Callable[[], object]) -> float:
    """Best-of-REPEATS time of one call, in microseconds."""
    return min(timeit.repeat(fn, number=NUMBER, repeat=REPEATS)) / NUMBER * 1e6


def main() -> None:
    policy = ContextAccessPolicy(denied_viewers={"x", "y"}, sealed_fields={"ssn", "api_key"})
    ctx = create_secure_context("agent-1", "triage", sensitivity=SensitivityLevel.INTERNAL, sealed_fields={"ssn"})
    ctx.set_sealed("api_key", "sk-123")
    for i in range(10):
        ctx.set_data(f"k{i}", i)
        ctx.add_reasoning_step(f"step {i}")
        ctx.add_source(f"doc {i}")

    rows = [
        ("can_access (granted, no field)", per_call_us(lambda: policy.can_access("orch", "pipeline_orch")), 5.0),
        (
            "can_access (granted, with field)",
            per_call_us(lambda: policy.can_access("orch", "pipeline_orch", "name")),
            5.0,
        ),
        ("can_access (denied: agent)", per_call_us(lambda: policy.can_access("a2", "agent")), 5.0),
        (
            "get_visible_context (allowed, 10 data keys)",
            per_call_us(lambda: ctx.get_visible_context("orch", "pipeline_orch")),
            20.0,
        ),
        ("get_visible_context (denied)", per_call_us(lambda: ctx.get_visible_context("a2", "agent")), 20.0),
    ]
    print(f"{'figure':<46} {'measured':>12} {'target':>10}  ok?")
    for name, measured, target in rows:
        print(f"{name:<46} {measured:>9.3f} us {target:>7.1f} us  {'yes' if measured <= target else 'NO'}")


if __name__ == "__main__":
    main()
