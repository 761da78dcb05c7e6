"""Tool: built from typed functions (schema and validation through pydantic) or from a schema and a handler."""

from __future__ import annotations

import asyncio
import threading
from types import MappingProxyType
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from llmteam.llm import ToolSpec
from llmteam.tools import Tool, ToolArgumentsError, ToolDefinitionError, as_tool, tool


class Address(BaseModel):
    city: str
    zip: str


async def async_lookup(number: Annotated[str, Field(description="the invoice number")], limit: int = 3) -> dict:
    """Find an invoice by its number.

    More text that is part of the description.
    """
    return {"number": number, "limit": limit}


def sync_where(address: Address, mode: Literal["fast", "slow"] = "fast") -> str:
    """Where the call ran."""
    return f"{address.city}/{mode}/{threading.current_thread().name}"


def test_schema_and_description_come_from_the_signature_and_docstring() -> None:
    t = Tool.from_function(async_lookup)
    assert t.name == "async_lookup"
    assert t.description.startswith("Find an invoice by its number.")
    assert t.parameters["type"] == "object"
    assert t.parameters["required"] == ["number"]
    assert t.parameters["properties"]["number"]["description"] == "the invoice number"
    assert t.parameters["properties"]["limit"]["default"] == 3
    assert t.parameters["additionalProperties"] is False
    assert t.spec == ToolSpec("async_lookup", t.description, t.parameters)
    assert t.function is async_lookup


async def test_invoke_validates_and_coerces_then_calls() -> None:
    t = Tool.from_function(async_lookup, name="lookup", description="custom")
    assert (t.name, t.description) == ("lookup", "custom")
    assert await t.invoke({"number": "INV-1", "limit": "5"}) == {"number": "INV-1", "limit": 5}
    assert await t.invoke('{"number": "INV-2"}') == {"number": "INV-2", "limit": 3}


async def test_sync_function_runs_in_a_worker_thread_with_nested_models() -> None:
    t = tool(sync_where)
    result = await t.invoke({"address": {"city": "Oslo", "zip": "0150"}, "mode": "slow"})
    city, mode, thread = result.split("/")
    assert (city, mode) == ("Oslo", "slow")
    assert thread != threading.current_thread().name
    assert "$defs" in t.parameters and "Address" in t.parameters["$defs"]


@pytest.mark.parametrize("arguments, fragment", [
    ({}, "number: Field required"),
    ({"number": "x", "limit": "many"}, "limit: Input should be a valid integer"),
    ({"number": "x", "surprise": 1}, "surprise: Extra inputs are not permitted"),
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
])
async def test_bad_arguments_are_refused_with_every_problem_named(arguments: Any, fragment: str) -> None:
    t = Tool.from_function(async_lookup)
    with pytest.raises(ToolArgumentsError) as info:
        await t.invoke(arguments)
    assert fragment in str(info.value)
    assert "async_lookup" in str(info.value)


async def test_arguments_in_any_mapping_are_validated_and_anything_else_refused() -> None:
    t = Tool.from_function(async_lookup)
    assert t.validate(MappingProxyType({"number": "x"})) == t.validate({"number": "x"})
    for bad in ([("number", "x")], ("number",), 3, None):
        with pytest.raises(ToolArgumentsError, match="must be a JSON object"):
            t.validate(bad)  # type: ignore[arg-type]


def test_decorator_with_options() -> None:
    @tool(name="get-weather", description="Weather for a city.")
    async def weather(city: str) -> str:
        return "sunny"

    assert isinstance(weather, Tool)
    assert (weather.name, weather.description) == ("get-weather", "Weather for a city.")


def no_hint(x) -> None:  # type: ignore[no-untyped-def]
    pass


def star_args(*values: int) -> None:
    pass


def star_kwargs(**values: int) -> None:
    pass


@pytest.mark.parametrize("fn, kwargs, fragment", [
    (no_hint, {}, "has no type annotation"),
    (star_args, {}, "named arguments only"),
    (star_kwargs, {}, "named arguments only"),
    (async_lookup, {"name": "bad name!"}, "tool name 'bad name!' is invalid"),
    (async_lookup, {"name": "x" * 65}, "is invalid"),
    (42, {}, "is not a function"),
])
def test_unusable_functions_are_refused_clearly(fn: Any, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_function(fn, **kwargs)
    assert fragment in str(info.value)


async def test_handler_tool_checks_the_shape_of_its_arguments() -> None:
    seen: list[Any] = []

    async def handler(arguments: Any) -> str:
        seen.append(dict(arguments))
        return "ok"

    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"],
              "additionalProperties": False}
    t = Tool(name="search", description="Search.", parameters=schema, handler=handler)
    assert await t.invoke({"q": "x"}) == "ok"
    with pytest.raises(ToolArgumentsError, match=r"missing required argument\(s\) \['q'\]"):
        await t.invoke({})
    with pytest.raises(ToolArgumentsError, match=r"unknown argument\(s\) \['z'\]"):
        await t.invoke({"q": "x", "z": 1})
    assert seen == [{"q": "x"}]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"parameters": {"type": "array"}}, "JSON Schema of an object"),
    ({"parameters": []}, "JSON Schema of an object"),
    ({"description": 3}, "description must be text"),
    ({"handler": "nope"}, "is not callable"),
    ({"parameters": {"required": 5}}, "'required' is 5, not a list of property names"),
    ({"parameters": {"required": [["q"]]}}, r"'required' is \[\['q'\]\], not a list of property names"),
    ({"parameters": {"properties": 7}}, "'properties' is 7, not an object"),
    ({"parameters": {"properties": {1: {}}}}, r"'properties' is \{1: \{\}\}, not an object"),
])
def test_handler_tool_definition_errors(kwargs: dict[str, Any], fragment: str) -> None:
    async def handler(arguments: Any) -> None:
        return None

    base: dict[str, Any] = {"name": "t", "description": "", "parameters": {"type": "object"}, "handler": handler}
    with pytest.raises(ToolDefinitionError, match=fragment):
        Tool(**{**base, **kwargs})


def test_as_tool_accepts_tools_and_functions_only() -> None:
    t = tool(async_lookup)
    assert as_tool(t) is t
    assert as_tool(sync_where).name == "sync_where"
    with pytest.raises(ToolDefinitionError, match="not a Tool or a function"):
        as_tool("lookup")


async def test_async_tool_runs_on_the_event_loop() -> None:
    loop = asyncio.get_running_loop()

    @tool
    async def which_loop() -> bool:
        """Is this the caller's loop?"""
        return asyncio.get_running_loop() is loop

    assert await which_loop.invoke({}) is True


# -- a schema from elsewhere (an MCP server) that is malformed --------------------------------------------------

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=4), max_leaves=12)


async def _ok(arguments: Any) -> str:
    return "ok"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["required", "properties", "additionalProperties", "type"]), _JSON),
       st.dictionaries(st.text(max_size=5), _JSON, max_size=4))
def test_any_schema_given_after_definition_checks_arguments_or_refuses_them(schema: dict[str, Any],
                                                                           arguments: dict[str, Any]) -> None:
    """An MCP tool declared before its server opens gets its schema when the server lists it, after the Tool was
    built. A malformed one ("required": 5, [["q"]], "properties": 7) raised a raw TypeError from validation, which
    ended the whole team run with no audit record; validation gives arguments or ToolArgumentsError, nothing else."""
    t = Tool(name="t", description="", parameters={"type": "object"}, handler=_ok)
    t.parameters = {"type": "object", **schema}
    try:
        assert t.validate(arguments) == arguments
    except ToolArgumentsError as exc:
        assert str(exc).startswith("tool 't'")


async def test_a_malformed_schema_is_an_audited_tool_error_in_a_run_not_a_crash() -> None:
    from llmteam.audit import AuditQuery
    from llmteam.llm import ScriptedLLM, ToolCall
    from llmteam.team import Agent, Team

    lookup = Tool(name="lookup", description="", parameters={"type": "object"}, handler=_ok)
    lookup.parameters = {"type": "object", "required": [["q"]]}  # as a declared MCP tool's is filled in
    team = Team("t", llm=ScriptedLLM({"go": ToolCall.of("lookup", {"q": "a"}, id="c1")}, default="done"),
                agents=[Agent("a", prompt="go {x}", tools=[lookup])])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"x": 1})
        async with rt.tenants.context("acme"):
            records = await rt.audit.query(AuditQuery(limit=50))
    [call] = result.steps[0].tool_calls
    assert call.decision == "invalid_arguments" and not call.executed
    assert "'required' is [['q']], not a list of property names" in (call.error or "")
    assert [r.metadata["decision"] for r in records if r.resource_type == "tool"] == ["invalid_arguments"]


def test_a_schema_is_checked_once_per_schema_set_and_again_when_set_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shape check read the schema's parts anew on every call; it is checked once per schema set, and a schema
    set later (an MCP tool's, when its server lists it) is still checked, bad or good."""
    from llmteam.tools import _tool

    seen: list[Any] = []
    real = _tool.schema_problem
    monkeypatch.setattr(_tool, "schema_problem", lambda schema: seen.append(schema) or real(schema))
    t = Tool(name="t", description="", parameters={"type": "object", "required": ["q"]}, handler=_ok)
    seen.clear()
    for _ in range(3):
        assert t.validate({"q": 1}) == {"q": 1}
    assert seen == []  # checked when built
    t.parameters = {"type": "object", "required": 5}
    for _ in range(3):
        with pytest.raises(ToolArgumentsError, match="'required' is 5, not a list of property names"):
            t.validate({"q": 1})
    assert len(seen) == 1
    t.parameters = {"type": "object", "required": ["r"]}
    with pytest.raises(ToolArgumentsError, match=r"missing required argument\(s\) \['r'\]"):
        t.validate({"q": 1})
    assert t.validate({"r": 1}) == {"r": 1} and len(seen) == 2
