"""The bounded stdio transport's message splitting (the transport itself runs in test_tools_mcp.py's servers)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tools._mcp_stdio import MessageLines, overflow_text

_MESSAGES = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_MESSAGES, st.lists(st.integers(min_value=0, max_value=600), max_size=20), st.integers(1, 50))
def test_any_chunking_gives_the_same_messages_or_an_overflow(messages: list[bytes], cuts: list[int],
                                                             limit: int) -> None:
    stream = b"".join(m + b"\n" for m in messages)
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    lines = MessageLines(limit)
    got: list[bytes] = []
    overflowed = False
    for start, end in zip(points, points[1:]):
        out = lines.feed(stream[start:end])
        if out is None:
            overflowed = True
            break
        got += out
    too_long = [i for i, m in enumerate(messages) if len(m) > limit]
    assert overflowed is bool(too_long)
    expected = [m for m in messages if m.strip()]
    if too_long:  # everything before the long message may have been delivered, nothing after it
        first = len([m for m in messages[:too_long[0]] if m.strip()])
        assert got == expected[:len(got)] and len(got) <= first
    else:
        assert got == expected


def test_an_endless_line_is_refused_once_past_the_limit_and_a_partial_line_waits() -> None:
    lines = MessageLines(10)
    assert lines.feed(b'{"a":') == [] and lines.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert lines.feed(b"x" * 6) == [] and lines.feed(b"x") is None  # 11 bytes without a newline
    assert "longer than 1,024 bytes" in overflow_text("srv", 1024) and "'srv'" in overflow_text("srv", 1024)
