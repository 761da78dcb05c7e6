"""``RunControl.result``: a waiter in the process that executes the run reads its outcome as soon as it ends there,
not at its next poll of the system database."""

from __future__ import annotations

from pathlib import Path

import pytest

import llmteam.durable._control as control
from llmteam.durable import DurableRuntime
from llmteam.durable._engine import ENGINE
from llmteam.llm import ScriptedLLM
from llmteam.team import Agent, Team


async def test_a_run_ending_in_this_process_wakes_its_waiter_without_a_poll(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # polls an hour apart: the result can only arrive through the end of the run in this process
    monkeypatch.setattr(control, "POLL_SECONDS", 3600.0)
    team = Team("woken", llm=ScriptedLLM(default="done", delay=0.2), agents=[Agent("a", prompt="Answer {query}")])
    async with DurableRuntime(team, f"sqlite:///{tmp_path}/s.db", tenant="acme") as rt:
        for i in range(3):
            result = await rt.run({"query": f"q{i}"}, timeout=60)  # the timeout is the hang guard
            assert result.output == "done"
        assert ENGINE._endings == {}  # nothing left watching once the waiters are done
