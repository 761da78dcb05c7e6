"""The pure transitions: bounded state, JSON round trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.ratelimit import CircuitBreakerConfig
from llmteam.ratelimit._circuit_core import CircuitSnapshot, allow, failure, success


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["allow", "ok", "fail"]), st.floats(0, 20)), max_size=200))
def test_state_stays_bounded_and_serialisable(ops: list[tuple[str, float]]) -> None:
    config = CircuitBreakerConfig(failure_threshold=4, sample_size=6, half_open_max_requests=3)
    snap, now = CircuitSnapshot(), 0.0
    for op, gap in ops:
        now += gap
        {"allow": allow, "ok": success, "fail": failure}[op](snap, config, now)
        assert len(snap.probes) <= config.half_open_max_requests
        assert len(snap.window) <= 60
        assert snap.state in ("closed", "open", "half_open")
    assert CircuitSnapshot.from_json(snap.to_json()) == snap
