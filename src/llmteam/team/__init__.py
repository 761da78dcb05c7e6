"""Teams of agents run with every llmteam guarantee on: tenancy, audit, secure context, rate limits, mining.

Define a team, open a runtime over one store URL and run it for tenants::

    from llmteam.team import Agent, Team
    from llmteam.llm import ScriptedLLM          # or OpenAICompatible(base_url=..., model=...)

    llm = ScriptedLLM({"Classify": "billing"}, default="We have corrected your invoice.")
    team = Team("support", llm=llm, agents=[
        Agent("triage", prompt="Classify: {query}"),
        Agent("answer", prompt="Reply to {query} as {triage}"),
    ])
    async with team.runtime("sqlite:///./.llmteam/llmteam.db", tenant="acme") as rt:
        result = await rt.run({"query": "My invoice is wrong"})
    print(result.output, result.usage, result.audit_head)

Per run the runtime enters the tenant's context, enforces its limits and features (``TenantManager``:
``runs_per_day``, ``concurrent_pipelines``, ``agents_per_pipeline``, ``requests_per_minute``), checks the
licence, rate-limits each provider per tenant, gives each agent a ``SecureAgentContext`` (agents see only
outputs their owners' policies allow), routes with ``Route`` rules first and an optional LLM ``router`` as
fallback under ``max_steps``, appends every step to the tenant's audit chain and the process-mining log,
and accounts tokens and cost (``PriceTable``) per run, agent and tenant. Teams load from YAML with
:func:`load_team`. Unknown tenants are created on first use with the FREE tier unless
``auto_create_tenant=None``. Agents may call tools (``Agent(tools=[...])``), every call governed by the
tenant's ``llmteam.tools.ToolPolicy``; ``rt.stream(input)`` yields :class:`RunEvent` s as the run happens.
"""

from llmteam.team._errors import (
    AdmissionRefused,
    ContextDeniedError,
    PromptVariableError,
    RoutingError,
    RunRecordError,
    RunTimeoutError,
    StepLimitError,
    TeamConfigError,
    TeamError,
    TenantInactiveError,
    ToolLoopError,
)
from llmteam.team._loop import RunEvent
from llmteam.team._records import RunRecord, TenantUsage
from llmteam.team._result import AuditHead, RunResult, StepRecord, ToolCallRecord
from llmteam.team._run import StepRunner
from llmteam.team._runtime import DEFAULT_URL, TeamRuntime
from llmteam.team._spec import load_team, provider_from_dict, team_from_dict
from llmteam.team._store import RunStore
from llmteam.team._team import Agent, Route, Team
from llmteam.team._usage import Price, PriceTable, Usage
from llmteam.team.stores import MemoryRunStore, PostgresRunStore, SQLiteRunStore, open_run_store

__all__ = [
    "DEFAULT_URL",
    "AdmissionRefused",
    "Agent",
    "AuditHead",
    "ContextDeniedError",
    "MemoryRunStore",
    "PostgresRunStore",
    "Price",
    "PriceTable",
    "PromptVariableError",
    "Route",
    "RoutingError",
    "RunEvent",
    "RunRecord",
    "RunRecordError",
    "RunResult",
    "RunStore",
    "RunTimeoutError",
    "SQLiteRunStore",
    "StepLimitError",
    "StepRecord",
    "StepRunner",
    "Team",
    "TeamConfigError",
    "TeamError",
    "TeamRuntime",
    "TenantInactiveError",
    "TenantUsage",
    "ToolCallRecord",
    "ToolLoopError",
    "Usage",
    "load_team",
    "open_run_store",
    "provider_from_dict",
    "team_from_dict",
]
