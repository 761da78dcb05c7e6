"""RunEvents / EventBoard: replay from an index then follow live, bounded history, bounded finished runs."""

from __future__ import annotations

import asyncio

from llmteam.server import _events
from llmteam.server._events import EventBoard, RunEvents, sse


async def _collect(events: RunEvents, offset: int = 0) -> list[tuple[int, str]]:
    return [(i, kind) async for i, kind, _ in events.follow(offset)]


async def test_subscribers_replay_then_follow_until_the_end() -> None:
    events = RunEvents()
    await events.publish("step_started", {"n": 0})
    early = asyncio.create_task(_collect(events))
    late = asyncio.create_task(_collect(events, offset=1))
    await asyncio.sleep(0)
    await events.publish("token", {"text": "a"})
    await events.publish("step_finished", {})
    await events.end()
    expected = [(0, "step_started"), (1, "token"), (2, "step_finished")]
    assert await early == expected and await late == expected[1:]
    assert await _collect(events, offset=3) == []  # nothing after the end: returns at once


async def test_history_and_finished_runs_are_bounded() -> None:
    events = RunEvents()
    for i in range(_events.MAX_EVENTS + 10):
        await events.publish("token", {"i": i})
    await events.end()
    got = await _collect(events)
    assert len(got) == _events.MAX_EVENTS and got[0][0] == 10  # a late subscriber starts at the oldest kept
    board = EventBoard()
    for n in range(_events.MAX_FINISHED + 5):
        board.open(f"r{n}")
        board.close(f"r{n}")
    assert board.get("r0") is None and board.get(f"r{_events.MAX_FINISHED + 4}") is not None
    assert len(board.finished) == _events.MAX_FINISHED and board.live == {}


def test_sse_framing_cannot_be_broken_by_values() -> None:
    frame = sse("token", {"text": "a\n\nevent: run_finished\ndata: {}"}, 7)
    assert frame.startswith(b"id: 7\nevent: token\ndata: ") and frame.count(b"\n\n") == 1
