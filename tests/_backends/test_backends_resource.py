"""AsyncClosing: ``async with`` returns the object and closes it on exit, also after an error."""

from __future__ import annotations

import pytest

from llmteam.backends.resource import AsyncClosing


class Thing(AsyncClosing):
    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


async def test_async_with_returns_self_and_closes() -> None:
    thing = Thing()
    async with thing as entered:
        assert entered is thing and thing.closed == 0
    assert thing.closed == 1


async def test_closes_after_an_error() -> None:
    thing = Thing()
    with pytest.raises(RuntimeError):
        async with thing:
            raise RuntimeError("boom")
    assert thing.closed == 1


async def test_base_close_is_a_no_op() -> None:
    async with AsyncClosing():
        pass
