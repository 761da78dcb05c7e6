"""PipelineOrchestrator: runs registered agents under a strategy, bounded in steps, history and memory."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from llmteam._isotime import iso_text
from llmteam.roles._mining import EventFields, ProcessMiningEngine
from llmteam.roles._models import ProcessMetrics
from llmteam.roles._orchestration import OrchestrationStrategy, RuleBasedStrategy, step_context

iso_time = iso_text()
"""``ts.isoformat()`` of the orchestrator's history times (naive), from the text of the second kept: see
:func:`llmteam._isotime.iso_text`."""


def _nothing() -> None:
    """Settling without mining: nothing to do."""


def _check_case_id(run_id: object) -> None:
    """With mining, ``run_id`` becomes a case id, a dict key: refuse one that cannot be, before the run starts."""
    try:
        hash(run_id)
    except TypeError:
        raise TypeError(
            f"run_id {run_id!r} is not hashable; pass a string (it names the run's case in the mined log)"
        ) from None


class PipelineOrchestrator:
    """Route one run through registered agents; every run ends (default sequence, ``max_steps``)."""

    def __init__(
        self,
        pipeline_id: str,
        strategy: OrchestrationStrategy | None = None,
        enable_process_mining: bool = True,
        *,
        max_steps: int = 1000,
        history_limit: int = 1000,
        mining_max_events: int | None = None,
    ) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps={max_steps!r} must be an int >= 1")
        if isinstance(history_limit, bool) or not isinstance(history_limit, int) or history_limit < 0:
            raise ValueError(f"history_limit={history_limit!r} must be an int >= 0")
        self.pipeline_id = pipeline_id
        self.strategy: OrchestrationStrategy = strategy if strategy is not None else RuleBasedStrategy()
        self.process_mining: ProcessMiningEngine | None = (
            ProcessMiningEngine(max_events=mining_max_events) if enable_process_mining else None
        )
        self.max_steps = max_steps
        self.history_limit = history_limit
        self._agents: dict[str, Any] = {}
        self._history: deque[dict[str, Any]] = deque(maxlen=history_limit)

    def register_agent(self, name: str, agent: Any) -> None:
        """Register ``agent`` (an object with ``async process(state)``) under ``name``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"agent name {name!r} must be a non-empty string")
        self._agents[name] = agent

    def unregister_agent(self, name: str) -> None:
        """Remove the agent ``name``; a no-op when absent."""
        self._agents.pop(name, None)

    async def orchestrate(self, run_id: str, input_data: dict[str, Any]) -> dict[str, Any]:
        """Run ``run_id`` from ``input_data`` until the strategy ends it; returns the final state.

        With mining on, events go to the engine's pending list (see ``ProcessMiningEngine._pending_log``), which
        the engine reads before answering anything: whoever looks at it, whenever, sees exactly the events that
        recording them one at a time would have given it, in the same order. An agent's start event takes the
        time of the step's event before it (nothing but this bookkeeping happens in between).
        """
        state = dict(input_data)
        step = "start"
        run_history: list[dict[str, Any]] = []
        mining = self.process_mining
        pending: list[EventFields] | None = None
        settle_at = 0  # with mining, settle the pending list before an await once it holds this many events
        settle: Callable[[], None] = _nothing
        if mining is not None:
            _check_case_id(run_id)
            pending, settle_at = mining._pending_log()
            settle = mining._settle
        agents = self._agents
        decide = self.strategy.decide
        history = self._history
        decisions = 0
        while True:
            decisions += 1
            if decisions > self.max_steps:
                raise RuntimeError(
                    f"pipeline {self.pipeline_id!r} run {run_id!r} exceeded max_steps={self.max_steps} decisions "
                    f"without ending (last step {step!r}); make the strategy return 'end' or raise max_steps"
                )
            decision = await decide(step_context(step, agents, list(run_history), state))
            kind = decision.decision_type
            targets = decision.target_agents
            now = last = datetime.now()
            if pending is not None:
                pending.append((
                    None, now, f"decision:{kind}", "orchestrator", run_id, "complete", 0, 0.0,
                    "reason", decision.reason, "confidence", decision.confidence,
                ))
            done = True
            if kind == "route" and targets:
                for name in targets:
                    agent = agents.get(name)
                    if agent is None:
                        continue
                    done = False
                    step = name
                    started = 0.0  # the clock is read only when mining records the agent's duration
                    if pending is not None:
                        pending.append((None, last, name, name, run_id, "start", 0, 0.0))
                        if len(pending) >= settle_at:
                            settle()
                        started = time.perf_counter()
                    try:
                        result = await agent.process(state)
                    except Exception as exc:
                        self._agent_failed(name, exc, started, run_id, run_history, decision.reason, pending)
                        settle()
                        raise
                    if pending is not None:
                        elapsed = int((time.perf_counter() - started) * 1000)
                        last = datetime.now()
                        pending.append((None, last, name, name, run_id, "complete", elapsed, 0.0))
                    if isinstance(result, dict):
                        state.update(result)
            elif kind == "retry" and targets:
                step = targets[0]
                done = False
            entry = {
                "step": step,
                "decision": {"type": kind, "targets": list(targets), "reason": decision.reason},
                "timestamp": iso_time(now),
            }
            run_history.append(entry)
            history.append(entry)
            if pending is not None and len(pending) >= settle_at:
                settle()
            await asyncio.sleep(0)
            if done:
                return state

    def _agent_failed(
        self, name: str, exc: Exception, started: float, run_id: str, run_history: list[dict[str, Any]], reason: str,
        pending: list[EventFields] | None,
    ) -> None:
        """Record an agent's failure: an ``error`` event (with mining, on the pending list), a history entry."""
        now = datetime.now()
        if pending is not None:
            elapsed = int((time.perf_counter() - started) * 1000)
            pending.append((None, now, name, name, run_id, "error", elapsed, 0.0, "error", str(exc)))
        entry = {
            "step": name,
            "decision": {"type": "error", "targets": [name], "reason": reason},
            "error": str(exc),
            "timestamp": iso_time(now),
        }
        run_history.append(entry)
        self._history.append(entry)

    def get_process_metrics(self) -> ProcessMetrics | None:
        """The mining engine's metrics, or None when process mining is disabled."""
        return self.process_mining.calculate_metrics() if self.process_mining is not None else None

    def export_process_model(self) -> str | None:
        """The mined log as XES text, or None when process mining is disabled."""
        return self.process_mining.export_xes() if self.process_mining is not None else None

    def get_execution_history(self) -> list[dict[str, Any]]:
        """A copy of the most recent ``history_limit`` history entries across runs, oldest first."""
        return list(self._history)
