"""Tools agents may call, and the policy that governs every call.

A :class:`Tool` is a name, a description, the JSON Schema of its arguments and an async handler; build one from
a typed function (``Tool.from_function(fn)`` or ``@tool``: pydantic derives the schema and validates the
arguments; a sync function runs in a worker thread)::

    from llmteam.tools import Tool, tool

    @tool
    def lookup_invoice(number: str) -> dict:
        \"\"\"Find an invoice by its number.\"\"\"
        return {"number": number, "amount": 120.0}

    result = await lookup_invoice.invoke({"number": "INV-1"})

Give tools to an agent with ``Agent(tools=[...])``: that list is the agent's allow-list. The team runtime
governs every call: the tenant's :class:`ToolPolicy` (``allow``/``confirm``/``deny`` per tool and agent, with a
:class:`ToolRule`'s risk, features, licence tier, argument constraints, per-run cap, timeout and rate limit)
can only narrow it; sealed data never reaches a tool of an agent without clearance; each decision and each
call is an audit record holding keyed digests of the arguments and the result, never their values.

:class:`MCPServer` (extra ``mcp``) turns a Model Context Protocol server's tools into ``Tool`` objects.
"""

from typing import TYPE_CHECKING, Any

from llmteam.tools._errors import (
    ToolArgumentsError,
    ToolDefinitionError,
    ToolDeniedError,
    ToolError,
    ToolFailedError,
    ToolResultError,
    ToolTimeoutError,
)
from llmteam.tools._govern import AgentTools, ToolScope, govern, govern_all
from llmteam.tools._guard import SealedValue, digest
from llmteam.tools._outcome import ApprovalDecision, Approver, ToolOutcome, ToolRequest, ToolUsage
from llmteam.tools._policy import Constraint, Decision, Risk, ToolPolicy, ToolRule
from llmteam.tools._tool import Tool, as_tool, check_tool_name, import_tool, tool

if TYPE_CHECKING:
    from llmteam.tools._mcp import MCPError, MCPServer, MCPToolError

_MCP_NAMES = frozenset({"MCPError", "MCPServer", "MCPToolError"})  # imported on first use (extra ``mcp``)

__all__ = [
    "AgentTools",
    "ApprovalDecision",
    "Approver",
    "Constraint",
    "Decision",
    "MCPError",
    "MCPServer",
    "MCPToolError",
    "Risk",
    "SealedValue",
    "Tool",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "ToolDeniedError",
    "ToolError",
    "ToolFailedError",
    "ToolOutcome",
    "ToolPolicy",
    "ToolRequest",
    "ToolResultError",
    "ToolRule",
    "ToolScope",
    "ToolTimeoutError",
    "ToolUsage",
    "as_tool",
    "check_tool_name",
    "digest",
    "govern",
    "govern_all",
    "import_tool",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name in _MCP_NAMES:
        from llmteam.tools import _mcp

        return getattr(_mcp, name)
    raise AttributeError(f"module 'llmteam.tools' has no attribute {name!r}")
