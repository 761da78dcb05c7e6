"""LLM providers for llmteam: one small protocol, an HTTP client for OpenAI-compatible servers, an offline fake.

Every provider has ``async generate(prompt) -> str`` (what ``roles.LLMBasedStrategy`` calls) and
``async complete(messages, **options) -> Completion`` (text plus :class:`TokenUsage`, used by the team runtime
for cost accounting)::

    from llmteam.llm import OpenAICompatible, ScriptedLLM

    llm = OpenAICompatible(base_url="http://localhost:11434/v1", model="llama3.1")   # Ollama, vLLM, OpenAI...
    fake = ScriptedLLM({"invoice": "billing", "password": "account"}, default="other")
    print(await fake.generate("My invoice is wrong"))                                 # -> "billing"

``OpenAICompatible`` reads ``LLMTEAM_BASE_URL``, ``LLMTEAM_MODEL`` and ``LLMTEAM_API_KEY`` (or the ``OPENAI_*``
names) when not given, retries connection errors, timeouts, 429 and 5xx with backoff that honours
``Retry-After``, and raises one of the errors below naming the status and URL. httpx is imported on first use.
``ScriptedLLM`` is deterministic and offline: the default for the demo and for tests of teams.

Tools: ``complete(messages, tools=[ToolSpec(...)])`` returns a :class:`Completion` whose ``tool_calls`` are
:class:`ToolCall` s (raw JSON arguments); results go back as ``{"role": "tool", "tool_call_id", "content"}``
messages. Providers declaring ``supports_tools = True`` accept tools; ``stream()`` yields :class:`TextDelta` s
and then the final :class:`Completion` with exact usage.
"""

from llmteam.llm._errors import (
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMHTTPError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
    ScriptError,
)
from llmteam.llm._openai import OpenAICompatible
from llmteam.llm._retry import backoff_delay, parse_retry_after
from llmteam.llm._scripted import ScriptedLLM
from llmteam.llm._sse import MAX_RESPONSE_BYTES
from llmteam.llm._types import (
    MAX_SERVED_NAME,
    MAX_TOOL_CALLS,
    Completion,
    LLMProvider,
    Message,
    StreamEvent,
    StreamingProvider,
    TextDelta,
    TokenUsage,
    ToolCall,
    ToolSpec,
    count_tokens,
    supports_tools,
    validate_messages,
)

__all__ = [
    "MAX_RESPONSE_BYTES",
    "MAX_SERVED_NAME",
    "MAX_TOOL_CALLS",
    "Completion",
    "LLMConfigError",
    "LLMConnectionError",
    "LLMError",
    "LLMHTTPError",
    "LLMProvider",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMTimeoutError",
    "Message",
    "OpenAICompatible",
    "ScriptError",
    "ScriptedLLM",
    "StreamEvent",
    "StreamingProvider",
    "TextDelta",
    "TokenUsage",
    "ToolCall",
    "ToolSpec",
    "backoff_delay",
    "count_tokens",
    "parse_retry_after",
    "supports_tools",
    "validate_messages",
]
