"""Teams from YAML: a strict schema where an unknown or mistyped field is an error naming its path."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.config import settings
from llmteam.llm import MAX_RESPONSE_BYTES, LLMProvider, OpenAICompatible, ScriptedLLM
from llmteam.team._errors import TeamConfigError
from llmteam.team._key_envs import allowed, fallback_key, key_env_patterns, resolve_key
from llmteam.team._team import Agent, Route, Team, check_options
from llmteam.team._yaml import parse_team_yaml, read_team_text
from llmteam.tools import MCPError, MCPServer, ToolError, import_tool

_TEAM_FIELDS = {
    "team", "description", "llm", "agents", "routes", "router", "router_prompt", "limits", "requires", "prices",
    "output", "mcp_servers",
}
_AGENT_FIELDS = {
    "name", "prompt", "system", "llm", "options", "sensitivity", "output", "tools", "tool_rules",
    "max_tool_rounds", "approval", "approval_timeout",
}
_MCP_FIELDS = {
    "name", "command", "args", "env", "env_from", "cwd", "url", "headers", "include", "prefix", "timeout",
    "connect_timeout", "max_message_bytes",
}
_ROUTE_FIELDS = {"after", "to", "contains", "key"}
_LIMIT_FIELDS = {"max_steps", "run_timeout"}
_PROVIDER_FIELDS = {
    "scripted": {"provider", "model", "rules", "default", "delay"},
    "openai": {"provider", "model", "base_url", "api_key_env", "timeout", "total_timeout", "max_retries",
               "max_response_bytes", "options"},
    "auto": {"provider", "model", "rules", "default", "delay", "base_url", "api_key_env", "timeout", "total_timeout",
             "max_retries", "max_response_bytes", "options"},
}
_RULE_FIELDS = {"match", "regex", "answer"}


def _check_fields(data: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise TeamConfigError(f"{where} must be a mapping, got {type(data).__name__} {bounded_repr(data)}")
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key)[:64], sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TeamConfigError(
                f"{where}: unknown field {bounded_repr(key)}{hint}; allowed fields are {', '.join(sorted(allowed))}"
            )
    return dict(data)


def _typed(data: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str, default: Any = None) -> Any:
    value = data.get(key, default)
    allowed = types if isinstance(types, tuple) else (types,)
    if value is not None and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
        names = "/".join(t.__name__ for t in allowed)
        raise TeamConfigError(f"{where}.{key} must be {names}, got {bounded_repr(value)}")
    return value


def provider_from_dict(data: Any, where: str, *, api_key_envs: Iterable[str] | None = None) -> LLMProvider:
    """Build a provider from its YAML mapping: ``provider: scripted | openai | auto`` plus its fields.

    ``auto`` is OpenAI-compatible when ``LLMTEAM_BASE_URL`` is set (or ``base_url`` is given), with the model in
    ``LLMTEAM_MODEL`` when set, else scripted. A team with no ``llm`` uses ``LLMTEAM_BASE_URL`` when it is set.
    API keys are never written in the file: ``api_key_env`` names the environment variable holding it, and only
    names the operator allows (``api_key_envs``: names or globs, default ``LLMTEAM_API_KEY`` and ``*_API_KEY``).
    """
    patterns = key_env_patterns(api_key_envs)
    if not isinstance(data, Mapping):
        raise TeamConfigError(f"{where} must be a mapping with a 'provider' field, got {bounded_repr(data)}")
    kind = data.get("provider", "scripted")
    if not isinstance(kind, str) or kind not in _PROVIDER_FIELDS:
        raise TeamConfigError(
            f"{where}.provider {bounded_repr(kind)} is unknown; use one of {', '.join(_PROVIDER_FIELDS)}"
        )
    data = _check_fields(data, _PROVIDER_FIELDS[kind], where)
    if kind == "auto":
        kind = "openai" if data.get("base_url") or settings().base_url else "scripted"
        if kind == "openai" and settings().model:  # the file's model names the scripted fallback
            data = {**data, "model": settings().model}
    if kind == "openai":
        options = _typed(data, "options", Mapping, where)
        check_options(options or {}, f"{where}.options")  # here, to name the YAML path (Team checks it again)
        key_env = data.get("api_key_env")
        api_key = fallback_key(patterns) if key_env is None else resolve_key(key_env, where, patterns)
        return OpenAICompatible(
            _typed(data, "base_url", str, where),
            _typed(data, "model", str, where),
            api_key=api_key,
            timeout=_typed(data, "timeout", (int, float), where, 60.0),
            total_timeout=_typed(data, "total_timeout", (int, float), where, 600.0),
            max_retries=_typed(data, "max_retries", int, where, 3),
            default_options=options,
            max_response_bytes=_typed(data, "max_response_bytes", int, where, MAX_RESPONSE_BYTES),
        )
    rules: list[tuple[Any, str]] = []
    for i, rule in enumerate(_typed(data, "rules", list, where, []) or []):
        rwhere = f"{where}.rules[{i}]"
        rule = _check_fields(rule, _RULE_FIELDS, rwhere)
        if ("match" in rule) == ("regex" in rule):
            raise TeamConfigError(f"{rwhere} needs exactly one of 'match' (substring) or 'regex'")
        answer = _typed(rule, "answer", str, rwhere)
        if answer is None:
            raise TeamConfigError(f"{rwhere} needs an 'answer'")
        if "regex" in rule:
            try:
                pattern: Any = re.compile(_typed(rule, "regex", str, rwhere), re.IGNORECASE)
            except re.error as exc:
                raise TeamConfigError(f"{rwhere}.regex {bounded_repr(rule['regex'])} is invalid: {exc}") from None
        else:
            pattern = _typed(rule, "match", str, rwhere)
        rules.append((pattern, answer))
    return ScriptedLLM(
        rules,
        default=_typed(data, "default", str, where),
        model=_typed(data, "model", str, where, "scripted"),
        delay=_typed(data, "delay", (int, float), where, 0.0),
    )


def mcp_servers_from_list(data: Any, where: str, keys: tuple[str, ...]) -> dict[str, MCPServer]:
    """``mcp_servers:`` entries as (unopened) MCPServer objects by name.

    ``env_from`` names environment variables to hand to a stdio server: like ``api_key_env``, only names on the
    operator's allow-list ``keys`` (a team file chooses the server, so whatever it may name it can send there).
    """
    servers: dict[str, MCPServer] = {}
    for i, raw in enumerate(data or []):
        swhere = f"{where}[{i}]"
        raw = _check_fields(raw, _MCP_FIELDS, swhere)
        env = dict(_typed(raw, "env", Mapping, swhere) or {})
        for var in _typed(raw, "env_from", list, swhere, []) or []:
            if not isinstance(var, str) or not allowed(var, keys):
                raise TeamConfigError(
                    f"{swhere}.env_from: {bounded_repr(var)} is not allowed for team files (allowed: "
                    f"{', '.join(keys)}); the operator widens the list with load_team(..., api_key_envs=[...])"
                )
            if not os.environ.get(var):
                raise TeamConfigError(f"{swhere}.env_from: environment variable {var!r} is not set")
            env[var] = os.environ[var]
        try:
            server = MCPServer(
                raw.get("name", ""), command=_typed(raw, "command", str, swhere),
                args=_typed(raw, "args", list, swhere, []) or [], env=env or None, cwd=_typed(raw, "cwd", str, swhere),
                url=_typed(raw, "url", str, swhere), headers=_typed(raw, "headers", Mapping, swhere),
                include=_typed(raw, "include", list, swhere), prefix=_typed(raw, "prefix", str, swhere, "") or "",
                timeout=_typed(raw, "timeout", (int, float), swhere, 60.0),
                **{key: raw[key] for key in ("connect_timeout", "max_message_bytes") if key in raw},
            )
        except MCPError as exc:
            raise TeamConfigError(f"{swhere}: {exc}") from None
        if server.name in servers:
            raise TeamConfigError(f"{swhere}: a second MCP server is named {server.name!r}")
        servers[server.name] = server
    return servers


def _agent_tools(raw: Mapping[str, Any], servers: Mapping[str, MCPServer], where: str) -> dict[str, Any]:
    """An agent's ``tools`` (``mcp_server:tool`` for a declared MCP server, else an import path
    ``module:function``), ``tool_rules`` and ``max_tool_rounds``."""
    refs = _typed(raw, "tools", list, where, []) or []
    tools = []
    for ref in refs:
        server = servers.get(ref.split(":", 1)[0]) if isinstance(ref, str) else None
        try:
            tools.append(server.tool(ref.split(":", 1)[1]) if server is not None else import_tool(ref))
        except ToolError as exc:
            known = ", ".join(servers) or "none"
            raise TeamConfigError(f"{where}.tools: {exc} (MCP servers declared: {known})") from None
    return {"tools": tools, "tool_rules": dict(_typed(raw, "tool_rules", Mapping, where, {}) or {}),
            "max_tool_rounds": _typed(raw, "max_tool_rounds", int, where, 10)}


def team_from_dict(data: Any, source: str = "team", *, api_key_envs: Iterable[str] | None = None) -> Team:
    """Build a :class:`Team` from a parsed YAML/JSON mapping, refusing unknown fields.

    ``api_key_envs`` is the operator's allow-list of environment variables a provider may name (see
    :func:`provider_from_dict`).
    """
    data = _check_fields(data, _TEAM_FIELDS, source)
    name = data.get("team")
    if name is None:
        raise TeamConfigError(f"{source}: missing field 'team' (the team's name)")
    keys = key_env_patterns(api_key_envs)
    llm = provider_from_dict(data["llm"], f"{source}.llm", api_key_envs=keys) if "llm" in data else None
    servers = mcp_servers_from_list(_typed(data, "mcp_servers", list, source), f"{source}.mcp_servers", keys)
    if llm is None and settings().base_url:  # the endpoint and model of LLMTEAM_BASE_URL / _MODEL
        llm = OpenAICompatible(api_key=fallback_key(keys))
    raw_agents = _typed(data, "agents", list, source)
    if not raw_agents:
        raise TeamConfigError(f"{source}: 'agents' must be a non-empty list")
    agents = []
    for i, raw in enumerate(raw_agents):
        where = f"{source}.agents[{i}]"
        raw = _check_fields(raw, _AGENT_FIELDS, where)
        for required in ("name", "prompt"):
            if required not in raw:
                raise TeamConfigError(f"{where}: missing field {required!r}")
        agents.append(
            Agent(
                name=raw["name"],
                prompt=raw["prompt"],
                llm=provider_from_dict(raw["llm"], f"{where}.llm", api_key_envs=keys) if "llm" in raw else None,
                system=_typed(raw, "system", str, where),
                options=dict(_typed(raw, "options", Mapping, where, {}) or {}),
                sensitivity=raw.get("sensitivity", "internal"),
                output=_typed(raw, "output", Mapping, where),
                approval=_typed(raw, "approval", bool, where, False),
                approval_timeout=_typed(raw, "approval_timeout", (int, float), where),
                **_agent_tools(raw, servers, where),
            )
        )
    routes = []
    for i, raw in enumerate(_typed(data, "routes", list, source, []) or []):
        where = f"{source}.routes[{i}]"
        raw = _check_fields(raw, _ROUTE_FIELDS, where)
        for required in ("after", "to"):
            if not isinstance(raw.get(required), str):
                raise TeamConfigError(
                    f"{where}: field {required!r} must be an agent name, got {bounded_repr(raw.get(required))}"
                )
        contains, key = _typed(raw, "contains", str, where), _typed(raw, "key", str, where)
        routes.append(Route(raw["after"], raw["to"], contains, key))
    limits = _check_fields(data.get("limits") or {}, _LIMIT_FIELDS, f"{source}.limits")
    requires = _typed(data, "requires", list, source, []) or []
    if not all(isinstance(f, str) for f in requires):
        raise TeamConfigError(f"{source}.requires must be a list of feature names, got {bounded_repr(requires)}")
    return Team(
        name,
        agents,
        llm=llm,
        routes=routes,
        router=provider_from_dict(data["router"], f"{source}.router", api_key_envs=keys) if "router" in data else None,
        router_prompt=_typed(data, "router_prompt", str, source),
        max_steps=limits.get("max_steps", 50),
        run_timeout=limits.get("run_timeout", 300.0),
        output=_typed(data, "output", str, source),
        requires=requires,
        prices=_typed(data, "prices", Mapping, source),
        description=_typed(data, "description", str, source, "") or "",
        mcp_servers=servers.values(),
    )


def load_team(source: str | os.PathLike[str], *, api_key_envs: Iterable[str] | None = None) -> Team:
    """Load a team from a YAML file path (or YAML text containing a newline); errors name the file and field.

    The file is at most 1 MiB, and its YAML aliases may not expand it more than fourfold (see ``team._yaml``).
    ``api_key_envs`` is the operator's allow-list of environment variables the file may name as ``api_key_env``.
    """
    if isinstance(source, str) and "\n" in source:
        text, label = source, "team"
    else:
        path = Path(source)
        text, label = read_team_text(path, str(path)), path.name
    return team_from_dict(parse_team_yaml(text, label), label, api_key_envs=api_key_envs)
