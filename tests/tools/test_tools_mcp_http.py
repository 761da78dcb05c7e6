"""The HTTP transport's line bound (the transport itself runs against real servers in test_tools_mcp.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tools._mcp_http import open_line


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"\n")), st.lists(st.integers(0, 300), max_size=12),
       st.integers(1, 40))
def test_the_bound_trips_exactly_when_some_line_is_too_long(stream: bytes, cuts: list[int], limit: int) -> None:
    """Whatever the chunking: None as soon as a line (complete or still open) passes ``limit``; otherwise the
    open line's length."""
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    run: int | None = 0
    seen = b""
    for start, end in zip(points, points[1:]):
        assert run is not None
        run = open_line(run, stream[start:end], limit)
        seen += stream[start:end]
        too_long = any(len(line) > limit for line in seen.split(b"\n"))
        assert (run is None) is too_long
        if run is None:
            break
        assert run == len(seen.split(b"\n")[-1])


def test_lines_inside_one_chunk_are_checked_too() -> None:
    assert open_line(0, b"ab\n" + b"x" * 11 + b"\ncd", 10) is None  # the middle line is 11 bytes
    assert open_line(0, b"ab\n" + b"x" * 10 + b"\ncd", 10) == 2
    assert open_line(9, b"x\n", 10) == 0 and open_line(9, b"xx\n", 10) is None
