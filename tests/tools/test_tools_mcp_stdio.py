"""The bounded stdio transport's message splitting (the transport itself runs in test_tools_mcp.py's servers)."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tools._mcp_stdio import MessageLines, answered_id, overflow_text

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


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                  max_size=3), max_leaves=10)
_IDS = st.integers(-2**40, 2**40) | st.text(max_size=10)


@settings(max_examples=300, deadline=None)
@given(_IDS, st.sampled_from(["result", "error"]), _JSON, st.dictionaries(st.text(max_size=6), _JSON, max_size=3),
       st.randoms(use_true_random=False))
def test_the_id_an_answer_names_is_found_without_parsing_it(request: int | str, kind: str, value: object,
                                                           extra: dict[str, object], order: random.Random) -> None:
    """An answer the SDK cannot parse (nested too deep, say) still names the request it answers: found in any key
    order, wherever "id", "result" or "method" also stand inside the values; a message with a top-level "method"
    (the server's own request) names none of ours."""
    members = [(k, v) for k, v in extra.items() if k not in ("id", "result", "error", "method")]
    members += [("id", request), (kind, value)]
    order.shuffle(members)
    line = json.dumps(dict(members)).encode()
    assert answered_id(line) == request
    assert answered_id(json.dumps({**dict(members), "method": "x"}).encode()) is None


def test_an_answer_names_no_request_without_an_id_and_a_result_in_reach() -> None:
    assert answered_id(b'{"id": 3}') is None  # no result: not an answer
    assert answered_id(b'{"id": 1.5, "result": {}}') is None  # not a request id of ours
    assert answered_id(b'[{"id": 3, "result": {}}]') is None  # a batch: not the message itself
    assert answered_id(b'{"result": [' + b"[" * 70_000 + b'], "id": 5}') is None  # past SCAN_BYTES
    assert answered_id(b'{"jsonrpc": "2.0", "id": 5, "result": {"a": ' + b"[" * 100_000) == 5
