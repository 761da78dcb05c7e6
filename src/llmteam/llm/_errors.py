"""Every error raised by llmteam.llm: one shallow hierarchy under :class:`LLMError`."""

from __future__ import annotations

from llmteam._exceptions import LLMTeamError


class LLMError(LLMTeamError):
    """Base class for every provider error."""


class LLMConfigError(LLMError, ValueError):
    """A provider was configured with a missing or invalid value."""


class LLMConnectionError(LLMError, ConnectionError):
    """The endpoint could not be reached (refused, DNS, reset) after all retries."""

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class LLMTimeoutError(LLMError, TimeoutError):
    """The endpoint did not answer within the configured timeout after all retries."""

    def __init__(self, message: str, url: str = "", timeout: float = 0.0) -> None:
        super().__init__(message)
        self.url = url
        self.timeout = timeout


class LLMHTTPError(LLMError):
    """The endpoint answered with an HTTP error status (kept as ``status``, with ``url`` and ``body``)."""

    def __init__(self, message: str, status: int, url: str, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.body = body


class LLMRateLimitError(LLMHTTPError):
    """The endpoint kept answering 429; ``retry_after`` is its last hint in seconds (or None)."""

    def __init__(self, message: str, url: str, body: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, 429, url, body)
        self.retry_after = retry_after


class LLMResponseError(LLMError):
    """The endpoint answered 2xx but not in the chat-completions format."""


class ScriptError(LLMError):
    """A :class:`ScriptedLLM` has no rule for the prompt and no default answer."""
