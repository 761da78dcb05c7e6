"""The HTTP transport's message bound (the transport itself runs against real servers in test_tools_mcp.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tools._mcp_http import MessageBytes


def _too_long(data: bytes, limit: int, sse: bool) -> bool:
    """The reference: does ``data`` (a prefix of a response) hold a message longer than ``limit`` bytes?"""
    if not sse:
        return len(data) > limit
    event = 0
    *lines, partial = data.split(b"\n")
    for line in lines:
        if line in (b"", b"\r"):
            event = 0
            continue
        event += len(line) + 1
        if event > limit:
            return True
    return event + len(partial) > limit


_SSE_BYTES = st.lists(st.sampled_from([b"data: ", b"x", b"\n", b"\r", b"\r\n", b"\n\n", b"yyyyyyy"]),
                      max_size=60).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_SSE_BYTES, st.binary(max_size=200)), st.lists(st.integers(0, 400), max_size=12),
       st.integers(1, 40), st.booleans())
def test_the_bound_trips_exactly_when_a_message_is_too_long(stream: bytes, cuts: list[int], limit: int,
                                                           sse: bool) -> None:
    """Whatever the chunking, ``feed`` answers False at the first chunk after which the response holds a message
    longer than ``limit`` bytes (a JSON body whole; an SSE event from blank line to blank line), True before."""
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    bound = MessageBytes(limit, sse=sse)
    for start, end in zip(points, points[1:]):
        ok = bound.feed(stream[start:end])
        assert ok is not _too_long(stream[:end], limit, sse)
        if not ok:
            break


def test_an_event_of_many_short_lines_is_one_message() -> None:
    bound = MessageBytes(20, sse=True)
    assert bound.feed(b"data: a\n\n" * 10)  # ten small events
    assert bound.feed(b"data: a\ndata: b\n")  # 16 bytes of an event in progress
    assert not bound.feed(b"data: c\n")  # 24
    assert not MessageBytes(20, sse=False).feed(b"{\n" * 11)  # a JSON body counts whole, line breaks or not
