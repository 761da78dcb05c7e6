"""Teams from YAML: the full schema, and a clear error naming the path for every kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from llmteam.context import SensitivityLevel
from llmteam.llm import OpenAICompatible, ScriptedLLM
from llmteam.team import RoutingError, TeamConfigError, load_team, team_from_dict
from llmteam.tools._mcp_stdio import MAX_MESSAGE_BYTES

from .._support.chat_server import text_server

FULL = """
team: t
description: d
llm: {provider: scripted, model: m, rules: [{match: hi, answer: hello}, {regex: "^x+$", answer: ex}], default: dflt}
agents:
  - {name: a, prompt: "say {q}", options: {temperature: 0}, sensitivity: confidential}
  - name: b
    prompt: "then {a}"
    system: "be brief"
    llm: {provider: openai, base_url: "http://127.0.0.1:1/v1", model: remote, timeout: 5, max_retries: 0,
          max_response_bytes: 4096, total_timeout: 90}
routes: [{after: a, to: b, contains: "yes"}, {after: b, to: end}]
router: {provider: scripted, default: '{"decision": "end"}'}
router_prompt: "route {current_step}"
limits: {max_steps: 9, run_timeout: 30}
requires: [basic_agents]
prices: {m: {prompt_per_1k: 1, completion_per_1k: 2}}
output: b
"""


async def test_full_schema(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(FULL)
    team = load_team(path)
    assert team.name == "t" and team.agent_names == ["a", "b"] and team.max_steps == 9 and team.run_timeout == 30
    assert isinstance(team.llm, ScriptedLLM) and team.llm.model == "m"
    assert await team.llm.generate("oh hi") == "hello" and await team.llm.generate("xxx") == "ex"
    assert await team.llm.generate("other") == "dflt"
    a, b = team.agent("a"), team.agent("b")
    assert a.options == {"temperature": 0} and a.sensitivity is SensitivityLevel.CONFIDENTIAL
    assert isinstance(b.llm, OpenAICompatible) and b.llm.model == "remote" and b.system == "be brief"
    assert b.llm.max_response_bytes == 4096 and b.llm.total_timeout == 90
    assert [(r.after, r.to, r.contains) for r in team.routes] == [("a", "b", "yes"), ("b", "end", None)]
    assert team.router is not None and team.router_prompt == "route {current_step}"
    assert team.prices.cost("m", 1000, 1000) == 3.0 and team.output == "b" and team.requires == {"basic_agents"}


def test_auto_provider_follows_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "team: t\nllm: {provider: auto, model: m, default: x}\nagents: [{name: a, prompt: p}]\n"
    monkeypatch.delenv("LLMTEAM_BASE_URL", raising=False)
    assert isinstance(load_team(text).llm, ScriptedLLM)
    monkeypatch.setenv("LLMTEAM_BASE_URL", "http://127.0.0.1:1/v1")
    assert isinstance(load_team(text).llm, OpenAICompatible)


BASE = "team: t\nllm: {provider: scripted, default: x}\n"


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        (BASE + "agents: [{name: a, promt: p}]", r"agents\[0\]: unknown field 'promt' \(did you mean 'prompt'\?\)"),
        (BASE + "agnets: []", r"unknown field 'agnets' \(did you mean 'agents'\?\)"),
        (BASE + "agents: [{name: a}]", r"agents\[0\]: missing field 'prompt'"),
        (BASE + "agents: []", "'agents' must be a non-empty list"),
        (BASE + "agents: [{name: a, prompt: p}]\nlimits: {max_step: 3}", r"limits: unknown field 'max_step'"),
        (BASE + "agents: [{name: a, prompt: p}]\nroutes: [{after: a, to: b, when: x}]", r"routes\[0\]: unknown field"),
        (BASE + "agents: [{name: a, prompt: p}]\nroutes: [{after: a}]", r"routes\[0\]: field 'to'"),
        ("llm: {provider: scripted}\nagents: [{name: a, prompt: p}]", "missing field 'team'"),
        ("team: t\nllm: {provider: magic}\nagents: [{name: a, prompt: p}]", r"llm.provider 'magic' is unknown"),
        ("team: t\nllm: {provider: scripted, rules: [{match: a}]}\nagents: [{name: a, prompt: p}]",
         "needs an 'answer'"),
        ("team: t\nllm: {provider: scripted, rules: [{regex: '(', answer: x}]}\nagents: [{name: a, prompt: p}]",
         "regex '\\(' is invalid"),
        ("team: t\nllm: {provider: openai, base_url: 'http://x/v1', model: m, api_key: k}\n"
         "agents: [{name: a, prompt: p}]",
         "unknown field 'api_key'"),
        ("team: t\nllm: {provider: openai, base_url: 'http://x/v1', model: m, api_key_env: NOPE_NOT_SET_API_KEY}\n"
         "agents: [{name: a, prompt: p}]", "NOPE_NOT_SET_API_KEY' is not set"),
        (BASE + "agents: [{name: a, prompt: p, options: 3}]", r"agents\[0\].options must be Mapping"),
        (BASE + "agents: [{name: a, prompt: 5}]", "prompt must be non-empty text"),
        ("- just\n- a list\n", "team must be a mapping"),
        ("team: [unclosed", "not valid YAML"),
        (BASE + "agents: [{name: a, prompt: p, options: {model: o1-pro}}]", "agent 'a': options may not set 'model'"),
        ("team: t\nllm: {provider: openai, base_url: 'http://x/v1', model: cheap, options: {model: o1-pro}}\n"
         "agents: [{name: a, prompt: p}]", r"team\.llm\.options: options may not set 'model'"),
        (BASE + "agents: [{name: a, prompt: p}]\nlimits: {max_steps: 1000000000000000000000}",
         "max_steps=1000000000000000000000 must be an integer from 1 to 100_000"),
        (BASE + "agents: [{name: a, prompt: p}]\nlimits: {run_timeout: .nan}", "run_timeout=nan must be a number"),
        (BASE + "agents: [{name: a, prompt: p}]\nlimits: {run_timeout: 1.0e+300}", "run_timeout=1e[+]300 must be"),
        (BASE + "agents: [{name: a, prompt: p, output: {$ref: '#/definitions/nope'}}]",
         r"\$ref '#/definitions/nope' does not point inside the schema"),
        (BASE + "prices: {scripted: {prompt_per_1k: 1.0e+308}}\nagents: [{name: a, prompt: p}]",
         "prompt_per_1k=1e[+]308 must be a number from 0 to 1e[+]06"),
    ],
)
def test_bad_yaml(yaml_text: str, match: str) -> None:
    with pytest.raises(TeamConfigError, match=match):
        load_team(yaml_text if "\n" in yaml_text else yaml_text + "\n")


def test_route_to_missing_agent_is_a_routing_error() -> None:
    with pytest.raises(RoutingError, match="route to 'ghost' names no agent"):
        load_team(BASE + "agents: [{name: a, prompt: p}]\nroutes: [{after: a, to: ghost}]\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TeamConfigError, match="cannot read team file .*nope.yaml"):
        load_team(tmp_path / "nope.yaml")


def test_api_key_from_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_KEY", "sk-123")
    team = team_from_dict({"team": "t", "agents": [{"name": "a", "prompt": "p"}],
                           "llm": {"provider": "openai", "base_url": "http://x/v1", "model": "m",
                                   "api_key_env": "MY_API_KEY"}})
    assert isinstance(team.llm, OpenAICompatible) and "sk-123" not in repr(team.llm)


TOOL_MODULE = '''
from llmteam.tools import tool

def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()

@tool(name="whisper")
def quiet(text: str) -> str:
    """Lower-case the text."""
    return text.lower()

NOT_CALLABLE = 3
'''


def test_agents_name_tools_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "yaml_tools_mod.py").write_text(TOOL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    team = load_team(
        "team: t\nllm: {provider: scripted, default: ok}\nagents:\n"
        "  - name: a\n    prompt: x\n    tools: ['yaml_tools_mod:shout', 'yaml_tools_mod:quiet']\n"
        "    tool_rules: {shout: confirm, whisper: {risk: high, max_calls_per_run: 2}}\n    max_tool_rounds: 4\n"
    )
    agent = team.agent("a")
    assert sorted(agent.tool_map) == ["shout", "whisper"]
    assert agent.tool_rules["shout"].decision.value == "confirm"
    assert agent.tool_rules["whisper"].max_calls_per_run == 2 and agent.max_tool_rounds == 4


@pytest.mark.parametrize("tools, fragment", [
    ("['os.path']", "is not an import path"),
    ("['no_such_module_xyz:f']", "cannot import module 'no_such_module_xyz'"),
    ("['yaml_tools_mod:missing']", "has no attribute 'missing'"),
    ("['yaml_tools_mod:NOT_CALLABLE']", "is not a Tool or a function"),
    ("['yaml_tools_mod:shout; rm -rf']", "is not an import path"),
    ("shout", "tools must be list"),
])
def test_bad_tool_references_name_the_agent_and_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tools: str, fragment: str
) -> None:
    (tmp_path / "yaml_tools_mod.py").write_text(TOOL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TeamConfigError, match=re.escape(fragment)) as info:
        load_team(f"team: t\nllm: {{provider: scripted, default: ok}}\nagents:\n  - name: a\n    prompt: x\n"
                  f"    tools: {tools}\n")
    assert "agents[0]" in str(info.value)


# -- tools and MCP servers named in YAML ------------------------------------------------------------------------


def _tools_team(tools: str, servers: str = "") -> str:
    head = "team: t\nllm: {provider: scripted, default: x}\n"
    return f"{head}{servers}agents:\n  - {{name: a, prompt: p, tools: {tools}}}\n"


@pytest.mark.parametrize(("tools", "servers", "match"), [
    ('["files:read"]', "mcp_servers: [{name: other, command: x}]\n", r"cannot import module 'files'.*declared: other"),
    ("[]", "mcp_servers: [{name: s}]\n", r"mcp_servers\[0\]: MCP server 's': give exactly one of command"),
    ("[]", "mcp_servers: [{name: s, command: x, env_from: [LLMTEAM_NOT_SET_API_KEY]}]\n",
     r"env_from: environment variable 'LLMTEAM_NOT_SET_API_KEY' is not set"),
    ("[]", "mcp_servers: [{name: s, command: x, env_from: [DATABASE_URL]}]\n",
     r"env_from: 'DATABASE_URL' is not allowed for team files \(allowed: LLMTEAM_API_KEY, \*_API_KEY\)"),
    ("[]", "mcp_servers: [{name: s, command: x, env_from: [LLMTEAM_AUDIT_HMAC_KEY]}]\n", "is not allowed"),
    ("[]", "mcp_servers: [{name: s, command: x}, {name: s, url: 'http://h/mcp'}]\n",
     "a second MCP server is named 's'"),
    ("[]", "mcp_servers: [{name: s, comand: x}]\n", r"unknown field 'comand' \(did you mean 'command'\?\)"),
    ("[]", "mcp_servers: [{name: s, command: x, max_message_bytes: 0}]\n",
     r"mcp_servers\[0\]: MCP server 's': max_message_bytes=0 must be a positive number of bytes"),
    ("[]", "mcp_servers: [{name: s, command: x, connect_timeout: 0}]\n",
     r"mcp_servers\[0\]: MCP server 's': connect_timeout=0 must be a positive number of seconds"),
    ("[]", "mcp_servers: [{name: s, command: x, include: [[a]]}]\n",
     r"mcp_servers\[0\]: MCP server 's': include \[\['a'\]\] must be a list of tool names"),
    ("[]", "mcp_servers: [{name: s, command: x, include: [1]}]\n",
     r"mcp_servers\[0\]: MCP server 's': include \[1\] must be a list of tool names"),
])
def test_yaml_tool_and_mcp_errors_name_the_field(tools: str, servers: str, match: str) -> None:
    with pytest.raises(TeamConfigError, match=match):
        load_team(_tools_team(tools, servers))


def test_yaml_env_from_passes_only_named_allowed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_API_KEY", "k3y")
    monkeypatch.setenv("BILLING_TOKEN", "t0k")
    servers = "mcp_servers: [{name: s, command: x, env: {A: b}, env_from: [BILLING_API_KEY]}]\n"
    team = load_team(_tools_team("[]", servers))
    assert team.mcp_servers[0].env == {"A": "b", "BILLING_API_KEY": "k3y"}
    widened = "mcp_servers: [{name: s, command: x, env_from: [BILLING_TOKEN]}]\n"
    team = load_team(_tools_team("[]", widened), api_key_envs=["BILLING_TOKEN"])
    assert team.mcp_servers[0].env == {"BILLING_TOKEN": "t0k"}


def test_yaml_sets_an_mcp_servers_message_bound_and_connect_timeout() -> None:
    bounded = load_team(_tools_team("[]", "mcp_servers: [{name: s, command: x, max_message_bytes: 65536, "
                                          "connect_timeout: 5}]\n"))
    assert bounded.mcp_servers[0].max_message_bytes == 65536
    assert bounded.mcp_servers[0].connect_timeout == 5.0
    assert load_team(_tools_team("[]", "mcp_servers: [{name: s, command: x}]\n")).mcp_servers[0].max_message_bytes \
        == MAX_MESSAGE_BYTES


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_team.yaml"


async def test_the_example_asks_a_real_server_for_llmteam_model(monkeypatch: pytest.MonkeyPatch) -> None:
    with text_server(lambda model, prompt: "billing" if prompt.startswith("Classify") else "APPROVED",
                     lambda m: f"{m}-2024-07-18") as (base_url, seen):
        monkeypatch.setenv("LLMTEAM_BASE_URL", base_url)
        monkeypatch.setenv("LLMTEAM_MODEL", "llama3.1")
        team = load_team(EXAMPLE)
        async with team.runtime("memory://", tenant="acme") as rt:
            result = await rt.run({"query": "I was charged twice"})
        await team.llm.aclose()  # type: ignore[union-attr]
    assert seen and {body["model"] for body in seen} == {"llama3.1"}  # never the file's "scripted-support"
    assert result.steps[0].model == "llama3.1-2024-07-18"


async def test_a_team_without_llm_uses_llmteam_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    text = 'team: bare\nagents:\n  - {name: a, prompt: "Hello {query}"}\n'
    with text_server(lambda model, prompt: "hi", lambda m: m) as (base_url, seen):
        monkeypatch.setenv("LLMTEAM_BASE_URL", base_url)
        monkeypatch.setenv("LLMTEAM_MODEL", "m1")
        team = team_from_dict(yaml.safe_load(text))
        assert isinstance(team.llm, OpenAICompatible)
        async with team.runtime("memory://", tenant="acme") as rt:
            result = await rt.run({"query": "x"})
        await team.llm.aclose()
    assert result.output == "hi" and seen[0]["model"] == "m1"
