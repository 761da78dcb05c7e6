"""``Agent``, ``Route`` and ``Team``: the definition of a team, validated when it is built."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmteam._repr import bounded_repr
from llmteam._text import is_unicode
from llmteam.context import SensitivityLevel
from llmteam.llm import LLMProvider, supports_tools
from llmteam.team._errors import PromptVariableError, RoutingError, TeamConfigError, TeamError
from llmteam.team._loop import no_tool_support
from llmteam.team._prompt import names_list, template_fields
from llmteam.team._run import HIDDEN
from llmteam.team._runtime import DEFAULT_URL, TeamRuntime
from llmteam.team._structured import OutputSchema
from llmteam.team._usage import PriceTable
from llmteam.tools import MCPServer, Tool, ToolError, ToolRule, as_tool

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RESERVED = frozenset({"start", "end", "input"})
MAX_STEPS = 100_000  # limits.max_steps at most: a run's step and history bookkeeping stays bounded
MAX_RUN_TIMEOUT = 86_400.0  # limits.run_timeout at most (a day): a crashed run's lease (run_timeout + 60 s) ends
# request options the runtime decides: the model (priced, rate-limited and traced as the provider's), the
# conversation, streaming and the agent's governed tools
RESERVED_OPTIONS = {
    "model": "give the agent its own llm with that model (YAML: llm: {provider: ..., model: ...})",
    "messages": "the prompt is the agent's prompt and system",
    "stream": "the runtime streams when a listener asks for it",
    "tools": "give the agent its tools with Agent(tools=[...])",
}


def check_name(name: Any, what: str) -> str:
    """``name`` if it is a usable agent/team name, else TeamConfigError naming it."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise TeamConfigError(
            f"{what} {bounded_repr(name)} is not a valid name; use 1-63 letters, digits or '_', not starting with a "
            "digit"
        )
    return name


def check_options(options: Mapping[str, Any], where: str) -> None:
    """TeamConfigError when request ``options`` set what the runtime decides (the model, the messages...)."""
    for key in options:
        if key in RESERVED_OPTIONS:
            raise TeamConfigError(f"{where}: options may not set {key!r}: it would bypass pricing, rate limits and "
                                  f"tracing of the provider's model; {RESERVED_OPTIONS[key]}")


def _sensitivity(value: Any, where: str) -> SensitivityLevel:
    if isinstance(value, SensitivityLevel):
        return value
    try:
        return SensitivityLevel(str(value).lower())
    except ValueError:
        allowed = ", ".join(s.value for s in SensitivityLevel)
        raise TeamConfigError(f"{where}: sensitivity {bounded_repr(value)} is unknown; use one of {allowed}") from None


@dataclass
class Agent:
    """One agent: a prompt template filled from the run input and earlier agents' outputs, sent to ``llm``.

    ``{name}`` placeholders name run-input keys or other agents (their output). ``llm`` defaults to the team's.
    ``sensitivity`` governs who may read this agent's output: PUBLIC/INTERNAL any later agent, CONFIDENTIAL
    only through this run's orchestrator, SECRET/TOP_SECRET no other agent: the output is sealed in the agent's
    context (it can still be the run's answer). ``output`` (a pydantic model class or a JSON Schema mapping)
    makes the answer structured: validated JSON, its typed value in ``RunResult.values`` and, for later agents,
    ``{name}`` (the JSON) and ``{name.field}`` placeholders.

    ``tools`` (``Tool`` s or typed functions) is the agent's allow-list: the model is offered them and may call
    them for up to ``max_tool_rounds`` rounds; ``tool_rules`` (tool name -> ``ToolRule``, ``"confirm"``...) is
    what the team declares for them. A tenant's ``ToolPolicy`` can narrow both, never widen them.

    ``approval=True``: each step of this agent waits for a person's approval before its model is called (in
    process the runtime's ``approver`` decides; a durable run pauses until ``llmteam runs approve``/``deny``);
    ``approval_timeout`` seconds later without a decision the step is denied. A denied step fails the run.
    """

    name: str
    prompt: str
    llm: LLMProvider | None = None
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    sensitivity: SensitivityLevel | str = SensitivityLevel.INTERNAL
    tools: Sequence[Tool | Callable[..., Any]] = ()
    tool_rules: Mapping[str, ToolRule | str | Mapping[str, Any]] = field(default_factory=dict)
    max_tool_rounds: int = 10
    output: Any = None
    approval: bool = False
    approval_timeout: float | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "agent name")
        if self.name in RESERVED:
            raise TeamConfigError(f"agent name {self.name!r} is reserved; pick another name")
        self.variables = template_fields(self.prompt, f"agent {self.name!r}")
        if self.system is not None:
            template_fields(self.system, f"agent {self.name!r} system prompt")
        if self.name in self.variables:
            raise TeamConfigError(f"agent {self.name!r}: its prompt uses its own output {{{self.name}}}")
        if not isinstance(self.options, dict):
            raise TeamConfigError(f"agent {self.name!r}: options must be a mapping, got {bounded_repr(self.options)}")
        self.sensitivity = _sensitivity(self.sensitivity, f"agent {self.name!r}")
        if not isinstance(self.approval, bool):
            raise TeamConfigError(f"agent {self.name!r}: approval={bounded_repr(self.approval)} must be true or false")
        timeout = self.approval_timeout
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not 0 < timeout < float("inf")):
            raise TeamConfigError(f"agent {self.name!r}: approval_timeout={bounded_repr(timeout)} must be a positive "
                                  "number of seconds (or absent for no deadline)")
        check_options(self.options, f"agent {self.name!r}")
        self.output_schema = None if self.output is None else OutputSchema(
            self.output, self.name, sealed=self.sensitivity in HIDDEN)
        if self.llm is not None and not isinstance(self.llm, LLMProvider):
            raise TeamConfigError(
                f"agent {self.name!r}: llm {self.llm!r} is not a provider (needs model, generate() and complete())"
            )
        self._check_tools()

    def _check_tools(self) -> None:
        where = f"agent {self.name!r}"
        if isinstance(self.tools, (str, bytes)) or not isinstance(self.tools, Sequence):
            raise TeamConfigError(f"{where}: tools must be a list of Tools or functions, got {self.tools!r:.100}")
        try:
            tools = [as_tool(t) for t in self.tools]
            rules = {str(k): ToolRule.of(v) for k, v in dict(self.tool_rules).items()}
        except (ToolError, TypeError, ValueError) as exc:
            raise TeamConfigError(f"{where}: {exc}") from None
        self.tool_map: dict[str, Tool] = {}
        for made in tools:
            if made.name in self.tool_map:
                raise TeamConfigError(f"{where}: two tools are named {made.name!r}; tool names must be unique")
            self.tool_map[made.name] = made
        self.tools = tools
        unknown = sorted(set(rules) - set(self.tool_map))
        if unknown:
            raise TeamConfigError(f"{where}: tool_rules name tool(s) {unknown} it was not given; tools: "
                                  f"{sorted(self.tool_map) or 'none'}")
        self.tool_rules = rules
        if isinstance(self.max_tool_rounds, bool) or not isinstance(self.max_tool_rounds, int) or not (
            0 <= self.max_tool_rounds <= 1000
        ):
            raise TeamConfigError(f"{where}: max_tool_rounds={self.max_tool_rounds!r} must be an integer 0-1000")
        if self.tool_map and self.llm is not None and not supports_tools(self.llm):
            raise TeamConfigError(no_tool_support(self.name, self.llm))


@dataclass(frozen=True)
class Route:
    """A routing rule: after agent ``after`` (or ``"start"``), go to ``to`` (an agent or ``"end"``).

    With ``contains``, the rule matches only when that text occurs (case-insensitively) in the output of
    ``after`` (or of the state key ``key``). Rules are tried in order; the first match wins.
    """

    after: str
    to: str
    contains: str | None = None
    key: str | None = None

    def matches(self, step: str, state: Mapping[str, Any]) -> bool:
        """True when this rule applies after ``step`` given the visible run state."""
        if step != self.after:
            return False
        if self.contains is None:
            return True
        return self.contains.casefold() in str(state.get(self.key or self.after, "")).casefold()


class Team:
    """A named set of agents, routing rules and limits; open a :meth:`runtime` to run it for tenants.

    Without routes the agents run once, in order. ``routes`` are tried first; when none matches and
    ``router`` (a provider) is given, it chooses the next agent (``roles.LLMBasedStrategy``); otherwise the
    next agent in order runs. A run ends after ``max_steps`` routing decisions at the latest.
    ``mcp_servers`` are opened by the runtime (and closed with it) so their tools, e.g.
    ``Agent(tools=[server.tool("lookup")])``, can be named before the servers run.
    """

    def __init__(
        self,
        name: str,
        agents: Sequence[Agent],
        *,
        llm: LLMProvider | None = None,
        routes: Iterable[Route] = (),
        router: LLMProvider | None = None,
        router_prompt: str | None = None,
        max_steps: int = 50,
        run_timeout: float = 300.0,
        output: str | None = None,
        requires: Iterable[str] = (),
        prices: PriceTable | Mapping[str, Any] | None = None,
        description: str = "",
        mcp_servers: Iterable[MCPServer] = (),
    ) -> None:
        self.name = check_name(name, "team name")
        self.agents = list(agents)
        if not self.agents:
            raise TeamConfigError(f"team {name!r} has no agents; give at least one Agent")
        self._by_name: dict[str, Agent] = {}
        for agent in self.agents:
            if not isinstance(agent, Agent):
                raise TeamConfigError(f"team {name!r}: {bounded_repr(agent)} is not an Agent")
            if agent.name in self._by_name:
                raise TeamConfigError(f"team {name!r}: two agents are named {agent.name!r}; names must be unique")
            if agent.llm is None and llm is None:
                raise TeamConfigError(f"team {name!r}: agent {agent.name!r} has no llm and the team has no default llm")
            if agent.tool_map and agent.llm is None and not supports_tools(llm):
                raise TeamConfigError(f"team {name!r}: " + no_tool_support(agent.name, llm))  # type: ignore[arg-type]
            self._by_name[agent.name] = agent
        if llm is not None and not isinstance(llm, LLMProvider):
            raise TeamConfigError(f"team {name!r}: llm {llm!r} is not a provider")
        if router is not None and not isinstance(router, LLMProvider):
            raise TeamConfigError(f"team {name!r}: router {router!r} is not a provider")
        providers = [("llm", llm), ("router", router), *((f"agent {a.name!r}: llm", a.llm) for a in self.agents)]
        for what, provider in providers:
            defaults = getattr(provider, "default_options", None)
            if isinstance(defaults, Mapping):
                check_options(defaults, f"team {name!r}: {what} default_options")
        self.llm = llm
        self.routes = tuple(routes)
        for route in self.routes:
            if not isinstance(route, Route):
                raise TeamConfigError(f"team {name!r}: route {route!r} is not a Route")
            if route.after != "start" and route.after not in self._by_name:
                raise RoutingError(
                    f"team {name!r}: route after {bounded_repr(route.after)} names no agent; {self._known()}"
                )
            if route.to != "end" and route.to not in self._by_name:
                raise RoutingError(f"team {name!r}: route to {bounded_repr(route.to)} names no agent; {self._known()}")
        self.router = router
        self.router_prompt = router_prompt
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= MAX_STEPS:
            raise TeamConfigError(
                f"team {name!r}: max_steps={bounded_repr(max_steps)} must be an integer from 1 to {MAX_STEPS:_}")
        if isinstance(run_timeout, bool) or not isinstance(run_timeout, (int, float)) or not (
            0 < run_timeout <= MAX_RUN_TIMEOUT
        ):
            raise TeamConfigError(
                f"team {name!r}: run_timeout={bounded_repr(run_timeout)} must be a number of seconds above 0 and at "
                f"most {MAX_RUN_TIMEOUT:g} (a day)"
            )
        self.max_steps = max_steps
        self.run_timeout = float(run_timeout)
        if output is not None and output not in self._by_name:
            raise TeamConfigError(f"team {name!r}: output {bounded_repr(output)} names no agent; {self._known()}")
        self.output = output
        self.requires = frozenset(requires)
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self.description = description
        self.mcp_servers = list(mcp_servers)
        for server in self.mcp_servers:
            if not isinstance(server, MCPServer):
                raise TeamConfigError(f"team {name!r}: mcp_servers entry {server!r:.100} is not an MCPServer")
        if len({s.name for s in self.mcp_servers}) != len(self.mcp_servers):
            raise TeamConfigError(f"team {name!r}: two MCP servers share a name; names must be unique")

    def _known(self) -> str:
        return f"agents are: {', '.join(self._by_name)}"

    def agent(self, name: str) -> Agent:
        """The agent called ``name``; RoutingError naming the known agents if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise RoutingError(f"team {self.name!r} has no agent {name!r}; {self._known()}") from None

    def check_input(self, data: Any) -> dict[str, Any]:
        """A copy of run input ``data`` if it is a JSON object giving every prompt variable, else a clear error."""
        if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
            got = type(data).__name__ if not isinstance(data, Mapping) else "a mapping with a key that is no string"
            raise TeamError(f"run input must be a mapping with string keys, got {got}")
        clash = sorted(set(data) & set(self._by_name))
        if clash:
            raise TeamError(f"run input key(s) {names_list(clash)} clash with agent names of team {self.name!r}; "
                            "rename them")
        try:
            text = json.dumps(data, allow_nan=False, ensure_ascii=False)
        except RecursionError:
            raise TeamError("run input is nested too deeply to be JSON data; pass a flatter input") from None
        except (TypeError, ValueError) as exc:
            raise TeamError(f"run input is not JSON data ({exc}); pass strings, numbers, lists and mappings") from None
        if not is_unicode(text):  # a lone surrogate: no UTF-8 form, so no store, listing or response could hold it
            bad = next(k for k in data if not is_unicode(json.dumps({k: data[k]}, ensure_ascii=False)))
            raise TeamError(f"run input {bad[:64]!r} holds half of a UTF-16 surrogate pair, which is no character "
                            "(undecoded bytes?); send valid Unicode text")
        names = set(data) | set(self._by_name)
        for agent in self.agents:
            missing = [v for v in agent.variables if v not in names]
            if missing:
                raise PromptVariableError(
                    f"agent {agent.name!r}: prompt variable {{{missing[0]}}} is not in the run input "
                    f"(input keys: {names_list(data)}); add {missing[0]!r} to the input"
                )
        return dict(data)

    @property
    def agent_names(self) -> list[str]:
        """Agent names in definition order."""
        return list(self._by_name)

    def llm_for(self, agent: Agent) -> LLMProvider:
        """The provider an agent uses (its own, else the team's)."""
        llm = agent.llm or self.llm
        assert llm is not None  # checked in __init__
        return llm

    def runtime(self, url: str = DEFAULT_URL, *, tenant: str | None = None, **options: Any) -> TeamRuntime:
        """A runtime for this team over the stores at ``url`` (use ``async with``); see :class:`TeamRuntime`."""
        return TeamRuntime(self, url, tenant=tenant, **options)

    def __repr__(self) -> str:
        return f"Team({self.name!r}, agents={self.agent_names!r})"
