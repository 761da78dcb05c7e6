"""Orchestration and process mining for agent pipelines.

Orchestration: a :class:`PipelineOrchestrator` runs registered agents (objects with ``async process(state)``)
for one run at a time, asking an :class:`OrchestrationStrategy` what to do after each step.
:class:`RuleBasedStrategy` tries your rules and otherwise walks the agents once, in order;
:class:`LLMBasedStrategy` asks a model and falls back to a defined decision whatever it answers. Every run
ends: ``max_steps`` stops a strategy that never says "end" with ``RuntimeError``, each step yields to the
event loop, and histories are bounded by ``history_limit``. :class:`GroupOrchestrator` spreads runs across
pipelines (least recently used idle pipeline first, fan-out with aggregation) and always puts each
pipeline's status back to ``idle`` or ``failed``.

Process mining: each step is a :class:`ProcessEvent` (case = run id). :class:`ProcessMiningEngine` holds
them (optionally bounded by ``max_events``) and gives the discovered model, metrics, a directly-follows graph
with counts and durations, bottlenecks by service and waiting time, trace variants, process maps (Graphviz
DOT, Mermaid, SVG/PNG through ``dot``) and XES export/import (the compact layout of the API contract or IEEE
1849 XES with ``standard=True``, streamed for large logs). :func:`open_event_log` opens the durable log
(``memory://``, ``sqlite:///path.db``, ``postgresql://...``) that the team runtime writes and ``llmteam mine``
reads::

    from llmteam.roles import PipelineOrchestrator

    orch = PipelineOrchestrator("support")
    orch.register_agent("triage", triage_agent)
    orch.register_agent("answer", answer_agent)
    state = await orch.orchestrate("run-1", {"query": "My invoice is wrong"})
    print(orch.process_mining.directly_follows_graph().edges, orch.export_process_model())
"""

from llmteam.roles._analysis import WAIT_LIFECYCLE
from llmteam.roles._errors import EventLogError, ProcessMapRenderError, RolesError, XESImportError
from llmteam.roles._event_log import EventFilter, EventLogBase, ProcessEventLog
from llmteam.roles._group import (
    ContentBasedRoutingStrategy,
    GroupDecisionType,
    GroupOrchestrationDecision,
    GroupOrchestrationStrategy,
    GroupOrchestrator,
    LoadBalancingStrategy,
    ParallelFanOutStrategy,
    PipelineStatus,
)
from llmteam.roles._llm_strategy import DEFAULT_PROMPT_TEMPLATE, LLMBasedStrategy
from llmteam.roles._mining import ProcessMiningEngine
from llmteam.roles._models import (
    Bottleneck,
    DFGEdge,
    DirectlyFollowsGraph,
    ProcessEvent,
    ProcessMetrics,
    ProcessModel,
    Variant,
)
from llmteam.roles._orchestration import (
    OrchestrationContext,
    OrchestrationDecision,
    OrchestrationStrategy,
    OrchestratorRole,
    RuleBasedStrategy,
)
from llmteam.roles._pipeline import PipelineOrchestrator
from llmteam.roles._process_map import render_dot, to_dot, to_mermaid
from llmteam.roles._xes_import import import_xes, iter_xes_events
from llmteam.roles.stores import MemoryEventLog, open_event_log

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "WAIT_LIFECYCLE",
    "Bottleneck",
    "ContentBasedRoutingStrategy",
    "DFGEdge",
    "DirectlyFollowsGraph",
    "EventFilter",
    "EventLogBase",
    "EventLogError",
    "GroupDecisionType",
    "GroupOrchestrationDecision",
    "GroupOrchestrationStrategy",
    "GroupOrchestrator",
    "LLMBasedStrategy",
    "LoadBalancingStrategy",
    "MemoryEventLog",
    "OrchestrationContext",
    "OrchestrationDecision",
    "OrchestrationStrategy",
    "OrchestratorRole",
    "ParallelFanOutStrategy",
    "PipelineOrchestrator",
    "PipelineStatus",
    "ProcessEvent",
    "ProcessEventLog",
    "ProcessMapRenderError",
    "ProcessMetrics",
    "ProcessMiningEngine",
    "ProcessModel",
    "RolesError",
    "RuleBasedStrategy",
    "Variant",
    "XESImportError",
    "import_xes",
    "iter_xes_events",
    "open_event_log",
    "render_dot",
    "to_dot",
    "to_mermaid",
]
