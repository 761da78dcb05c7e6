"""Run a pipeline's agents concurrently, each exactly once, under explicit limits.

``PipelineExecutor(ExecutorConfig(...)).execute_parallel(agents, input_data)`` awaits ``agent.process(input_data)``
for every agent and returns one ``TaskResult`` per agent in input order. At most ``max_concurrent`` agents run at
once (one when ``mode=SEQUENTIAL``); an agent slower than ``task_timeout`` is cancelled and reported as
``error="timeout"``; agents unfinished when ``total_timeout`` elapses are cancelled and reported as
``"total_timeout"``. An agent's exception becomes ``success=False, error=str(exc)`` and never affects the others.
No retries are made (agents may have side effects). An agent without a callable ``process`` is a TypeError raised
before anything runs.

    from llmteam.execution import ExecutorConfig, ExecutionMode, PipelineExecutor
    executor = PipelineExecutor(ExecutorConfig(mode=ExecutionMode.PARALLEL, max_concurrent=4, task_timeout=30))
    results = await executor.execute_parallel([agent_a, agent_b], {"query": "..."})
    executor.get_stats().completed_tasks
"""

from llmteam.execution._executor import PipelineExecutor
from llmteam.execution._models import ExecutionMode, ExecutionStats, ExecutorConfig, TaskResult

__all__ = ["ExecutionMode", "ExecutionStats", "ExecutorConfig", "PipelineExecutor", "TaskResult"]
