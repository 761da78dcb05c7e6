"""Internal bookkeeping for one ``execute_parallel`` call (a batch) and each agent run in it (a job)."""

from __future__ import annotations

import asyncio
import contextvars
import reprlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from llmteam.execution._models import TaskResult

AgentCall = Callable[[Any], Awaitable[Any]]

_REPR = reprlib.Repr()
_REPR.maxother = 120
_REPR.maxstring = 120


class Batch:
    """One execute_parallel call: its input, result slots and completion future."""

    __slots__ = (
        "context", "done", "expired", "input_data", "jobs", "loop", "remaining", "results", "task_ids", "timer",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, input_data: Any, size: int) -> None:
        self.loop = loop
        self.input_data = input_data
        self.results: list[TaskResult | None] = [None] * size
        self.remaining = size
        self.done: asyncio.Future[None] = loop.create_future()
        self.context = contextvars.copy_context()
        self.jobs: list[Job] = []
        self.task_ids: list[str] = []
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None


class Job:
    """One agent run: admitted (pending), then started (task), then finished exactly once."""

    __slots__ = ("batch", "entered", "finished", "index", "name", "process", "released", "started", "task", "timer")

    def __init__(self, batch: Batch, index: int, name: str, process: AgentCall) -> None:
        self.batch = batch
        self.index = index
        self.name = name
        self.process = process
        self.started = 0.0
        self.entered = False
        self.finished = False
        self.released = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None


def prepare_agents(agents: Iterable[Any]) -> list[tuple[str, AgentCall]]:
    """(name, process) per agent; TypeError naming the first agent without a callable ``process``."""
    if isinstance(agents, (str, bytes)) or not isinstance(agents, Iterable):
        raise TypeError(f"agents must be a list of agent objects, got {_REPR.repr(agents)}")
    specs: list[tuple[str, AgentCall]] = []
    for index, agent in enumerate(agents):
        process = getattr(agent, "process", None)
        if process is None or not callable(process):
            raise TypeError(
                f"agents[{index}] ({_REPR.repr(agent)}) has no callable 'process' attribute; every agent needs "
                "an 'async def process(self, input_data)' method. Nothing was run."
            )
        name = getattr(agent, "name", "unknown")
        specs.append((name if isinstance(name, str) else str(name), process))
    return specs
