"""``ServerClock``: placing a Redis decision on the local clock, never later than it can have happened."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmteam.ratelimit.stores._redis_clock import ServerClock

THETA = 1.7e9 - 20_000.0  # server clock minus local clock: an epoch time against time.monotonic()


def reply(clock: ServerClock, sent: float, outbound: float, inbound: float) -> tuple[float, float]:
    """One round trip: the server decides ``outbound`` after ``sent``; returns (estimated, true) local decision."""
    decided = sent + outbound
    received = decided + inbound
    return received - clock.age(sent, received, decided + THETA), decided


def test_a_request_held_up_on_the_way_out_is_placed_when_the_server_decided() -> None:
    clock = ServerClock()
    reply(clock, 100.0, 0.0001, 0.0001)  # a quick round trip fixes the offset to within 0.1 ms
    estimated, true = reply(clock, 100.01, 0.008, 0.0001)  # the server ran 8 ms late (not scheduled)
    # The middle of that round trip (100.01405) would be 4 ms before the decision: the next request, sent from
    # there, would arrive before its token and be refused. The bound places it within the quick trip's return leg.
    assert true <= estimated <= true + 0.0001 + 1e-6


def test_a_reply_read_late_is_not_placed_late() -> None:
    clock = ServerClock()
    reply(clock, 100.0, 0.0001, 0.0001)
    estimated, true = reply(clock, 100.01, 0.0001, 0.02)  # this process read the reply 20 ms late
    assert true <= estimated <= true + 0.0001 + 1e-6


def test_a_server_clock_stepped_back_stays_inside_the_round_trip_and_is_forgotten() -> None:
    clock = ServerClock()
    sent = 100.0
    received = sent + 0.001
    assert abs(clock.age(sent, received, sent + 0.0005 + THETA)) < 1e-6  # a first reply: as late as it can be
    stepped = THETA - 5.0  # the server's clock went back 5 s
    age = clock.age(sent + 0.5, sent + 0.501, sent + 0.5005 + stepped)
    assert abs(age - 0.001) < 1e-6  # clamped to the round trip: decided no earlier than sent
    later = sent + 3.0  # two epochs on, the old bound is gone
    assert abs(clock.age(later, later + 0.001, later + 0.0005 + stepped)) < 1e-6  # by its own bound again


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=0.05),  # gap before sending
            st.floats(min_value=0.00001, max_value=0.02),  # outbound delay
            st.floats(min_value=0.00001, max_value=0.02),  # inbound delay
        ),
        min_size=1,
        max_size=60,
    )
)
def test_never_placed_before_the_decision_nor_outside_the_round_trip(trips: list[tuple[float, float, float]]) -> None:
    clock = ServerClock()
    sent = 1000.0
    for gap, outbound, inbound in trips:
        sent += gap
        estimated, true = reply(clock, sent, outbound, inbound)
        assert sent - 1e-6 <= estimated <= sent + outbound + inbound + 1e-6
        assert estimated >= true - 1e-6, "placed before the server decided: the next request would arrive early"
        sent += outbound + inbound
