"""``Tool``: a named, described, schema-validated async callable a model may ask to run."""

from __future__ import annotations

import functools
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, overload

from llmteam._repr import bounded_repr
from llmteam.llm import ToolSpec
from llmteam.tools._errors import ToolArgumentsError, ToolDefinitionError
from llmteam.tools._threads import TOOL_THREADS

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]


def check_tool_name(name: Any) -> str:
    """``name`` if it is a valid tool name (what chat-completions accepts), else ToolDefinitionError naming it."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ToolDefinitionError(f"tool name {name!r} is invalid; use 1-64 letters, digits, '_' or '-'")
    return name


def schema_problem(parameters: Mapping[str, Any]) -> str | None:
    """What makes ``parameters`` unusable for the shape check of a handler tool, or None.

    Only the parts the check reads are looked at: ``type`` must be ``"object"``, ``required`` a list of property
    names, ``properties`` an object (names to schemas). The rest of the schema is the server's to validate.
    """
    kind = parameters.get("type", "object")
    if kind != "object":
        return f"'type' is {bounded_repr(kind)}, not 'object'"
    required = parameters.get("required")
    if required is not None and not (isinstance(required, list) and all(isinstance(k, str) for k in required)):
        return f"'required' is {bounded_repr(required)}, not a list of property names"
    properties = parameters.get("properties")
    if properties is not None and not (isinstance(properties, Mapping) and all(isinstance(k, str)
                                                                                for k in properties)):
        return f"'properties' is {bounded_repr(properties)}, not an object"
    return None


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors[:10]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        given = err.get("input")
        shown = "" if err.get("type") == "missing" else f" (got {given!r:.80})"
        parts.append(f"{where}: {err.get('msg', 'invalid')}{shown}")
    more = f"; and {len(errors) - 10} more" if len(errors) > 10 else ""
    return "; ".join(parts) + more


class Tool:
    """A tool: ``name``, ``description``, ``parameters`` (JSON Schema of its arguments) and an async handler.

    Build one from a typed function with :meth:`from_function` (or the :func:`tool` decorator): the schema and the
    validation come from the signature through pydantic. ``Tool(name=..., description=..., parameters=...,
    handler=...)`` wraps a handler whose schema comes from elsewhere (an MCP server): only the shape of the
    arguments (an object with its required keys) is checked here, the server validates the rest.
    """

    def __init__(
        self,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        handler: Handler,
        *,
        validator: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.name = check_tool_name(name)
        if not isinstance(description, str):
            raise ToolDefinitionError(f"tool {name!r}: description must be text, got {description!r:.80}")
        if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
            raise ToolDefinitionError(
                f"tool {name!r}: parameters must be a JSON Schema of an object, got {parameters!r:.200}"
            )
        problem = schema_problem(parameters)
        if problem is not None:
            raise ToolDefinitionError(f"tool {name!r}: parameters must be a JSON Schema of an object; its {problem}")
        if not callable(handler):
            raise ToolDefinitionError(f"tool {name!r}: handler {handler!r} is not callable")
        self.description = description
        self.parameters: dict[str, Any] = {"type": "object", **dict(parameters)}
        self._checked: tuple[Any, str | None] = (self.parameters, None)  # (the schema last checked, its problem)
        self.handler = handler
        self.function: Callable[..., Any] | None = None  # the Python function, for tools built from one
        self._validator = validator or self._check_shape

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    @property
    def spec(self) -> ToolSpec:
        """What a model is offered: name, description, parameters."""
        return ToolSpec(self.name, self.description, self.parameters)

    def _check_shape(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        # the schema may be set after the tool was built (an MCP tool declared before its server opened, whose
        # schema is set whole, never edited in place): it is checked once per schema set, not on every call
        schema, (checked, problem) = self.parameters, self._checked
        if checked is not schema:
            problem = schema_problem(schema)
            self._checked = (schema, problem)  # one tuple: a concurrent call sees a schema with its own problem
        if problem is not None:
            raise ToolArgumentsError(f"tool {self.name!r} cannot check its arguments: its schema's {problem}")
        required = schema.get("required") or ()
        missing = [key for key in required if key not in arguments]
        if missing:
            raise ToolArgumentsError(f"tool {self.name!r}: missing required argument(s) {missing}")
        if schema.get("additionalProperties") is False:
            known = schema.get("properties") or {}
            extra = sorted(str(key) for key in arguments if key not in known)
            if extra:
                raise ToolArgumentsError(f"tool {self.name!r}: unknown argument(s) {extra}; known: {sorted(known)}")
        return dict(arguments)

    def validate(self, arguments: Mapping[str, Any] | str) -> dict[str, Any]:
        """The validated arguments (raw JSON text is parsed first), or ToolArgumentsError listing each problem."""
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError as exc:
                raise ToolArgumentsError(f"tool {self.name!r}: arguments are not valid JSON ({exc})") from None
        if type(arguments) is not dict and not isinstance(arguments, Mapping):  # a dict without the ABC check
            raise ToolArgumentsError(
                f"tool {self.name!r}: arguments must be a JSON object, got {type(arguments).__name__}"
            )
        return self._validator(arguments)

    async def invoke(self, arguments: Mapping[str, Any] | str) -> Any:
        """Validate ``arguments`` and call the tool (no governance: the team runtime governs its calls)."""
        return await self.handler(self.validate(arguments))

    @classmethod
    def from_function(
        cls, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> Tool:
        """A tool from a typed function: async, or sync run in a worker thread; description from the docstring."""
        import pydantic

        if not callable(fn):
            raise ToolDefinitionError(f"{fn!r} is not a function")
        tool_name = check_tool_name(name or getattr(fn, "__name__", ""))
        doc = description if description is not None else inspect.getdoc(fn) or ""
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as exc:
            raise ToolDefinitionError(f"tool {tool_name!r}: cannot resolve the annotations of {fn!r} ({exc})") from None
        fields: dict[str, Any] = {}
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise ToolDefinitionError(
                    f"tool {tool_name!r}: parameter {param.name!r} is {param.kind.description}; a tool takes named "
                    "arguments only"
                )
            if param.name not in hints:
                raise ToolDefinitionError(
                    f"tool {tool_name!r}: parameter {param.name!r} has no type annotation; annotate it so the "
                    "model is told its type"
                )
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (hints[param.name], default)
        try:
            model = pydantic.create_model(
                f"{tool_name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields
            )
            schema = model.model_json_schema()
        except Exception as exc:
            raise ToolDefinitionError(f"tool {tool_name!r}: its signature has no JSON Schema ({exc})") from None
        schema.pop("title", None)

        def validator(arguments: Mapping[str, Any]) -> dict[str, Any]:
            try:
                parsed = model.model_validate(dict(arguments))
            except pydantic.ValidationError as exc:
                raise ToolArgumentsError(
                    f"tool {tool_name!r}: invalid arguments: {_describe(exc.errors())}"
                ) from None
            return {key: getattr(parsed, key) for key in fields}

        if inspect.iscoroutinefunction(fn):
            async def handler(arguments: Mapping[str, Any]) -> Any:
                return await fn(**arguments)
        else:
            async def handler(arguments: Mapping[str, Any]) -> Any:
                return await TOOL_THREADS.run(functools.partial(fn, **arguments))  # not the loop's executor

        made = cls(tool_name, doc, schema, handler, validator=validator)
        made.function = fn
        return made


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorator: ``@tool`` or ``@tool(name=..., description=...)`` turns a typed function into a :class:`Tool`."""
    if fn is not None:
        return Tool.from_function(fn, name=name, description=description)
    return lambda f: Tool.from_function(f, name=name, description=description)


REF_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def import_tool(ref: Any) -> Tool:
    """The tool named by an import path ``package.module:function`` (a Tool or a typed function).

    Importing runs the module's code: name only modules you trust (team files are code, like a Python script).
    """
    import importlib

    if not isinstance(ref, str) or not REF_RE.fullmatch(ref):
        raise ToolDefinitionError(f"tool reference {ref!r:.100} is not an import path; write 'package.module:function'")
    module_name, attr = ref.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolDefinitionError(f"tool {ref!r}: cannot import module {module_name!r} ({exc})") from None
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ToolDefinitionError(f"tool {ref!r}: module {module_name!r} has no attribute {attr!r}") from None
    return as_tool(target)


def as_tool(value: Any) -> Tool:
    """``value`` if it is a Tool, a Tool from it if it is a function, else ToolDefinitionError naming it."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        return Tool.from_function(value)
    raise ToolDefinitionError(f"{value!r:.100} is not a Tool or a function; pass Tool objects or typed functions")
