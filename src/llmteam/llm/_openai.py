"""``OpenAICompatible``: the chat-completions wire format over httpx, with timeouts and polite retries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from llmteam._deadline import within
from llmteam.config import settings
from llmteam.llm._errors import (
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMHTTPError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
)
from llmteam.llm._retry import RETRYABLE_STATUS, backoff_delay, parse_retry_after
from llmteam.llm._sse import (
    ERROR_BODY_BYTES,
    MAX_RESPONSE_BYTES,
    parse_completion,
    read_answer,
    read_sse_completion,
)
from llmteam.llm._types import Completion, Message, StreamEvent, ToolSpec, validate_messages

logger = logging.getLogger(__name__)

_FORBIDDEN_OPTIONS = frozenset({"messages", "stream"})
ENV_API_KEY = ("LLMTEAM_API_KEY", "OPENAI_API_KEY")  # read through llmteam.config; named for team files

_HINTS = {
    401: "check the API key (LLMTEAM_API_KEY or OPENAI_API_KEY)",
    403: "the API key is not allowed to use this model or endpoint",
    404: "check base_url (it usually ends in /v1) and the model name",
    400: "the server rejected the request; check the model name and options",
    422: "the server rejected the request; check the model name and options",
}

def json_body(payload: dict[str, Any]) -> bytes:
    """The request body: compact JSON in UTF-8, as httpx's ``json=`` writes it.

    Text that is not valid Unicode (a lone UTF-16 surrogate, say in a user's input or a model's tool-call arguments
    sent back to it) has no UTF-8 form; the body is then written with every non-ASCII character as its JSON ``\\u``
    escape, which carries the same text to the server instead of failing the call.
    """
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("ascii")


class OpenAICompatible:
    """A provider for any server speaking OpenAI's ``POST {base_url}/chat/completions`` (Ollama, vLLM, hosted APIs).

    ``base_url``, ``model`` and ``api_key`` default to ``LLMTEAM_BASE_URL``/``OPENAI_BASE_URL``,
    ``LLMTEAM_MODEL``/``OPENAI_MODEL`` and ``LLMTEAM_API_KEY``/``OPENAI_API_KEY``. Connection failures, timeouts,
    429 and 5xx answers are retried ``max_retries`` times with exponential backoff, waiting at least the server's
    ``Retry-After``; a ``Retry-After`` longer than ``max_retry_after`` fails at once with :class:`LLMRateLimitError`.
    Other 4xx answers fail at once with :class:`LLMHTTPError` naming the status and URL. httpx is imported on first use.
    An answer is read within ``max_response_bytes`` (decompressed, streamed or not): a longer one fails with
    :class:`LLMResponseError` instead of filling memory.
    ``complete(tools=...)`` offers tools and returns the model's (parallel) tool calls; :meth:`stream` streams SSE.
    ``supports_response_format`` says the server honours a JSON Schema ``response_format`` (structured output);
    set it False for a server that does not, and the schema is put in the prompt instead.
    """

    supports_tools = True
    supports_response_format = True

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_retry_after: float = 60.0,
        headers: dict[str, str] | None = None,
        default_options: dict[str, Any] | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        total_timeout: float | None = 600.0,
    ) -> None:
        env = settings()
        base = base_url or env.base_url
        if not base:
            raise LLMConfigError(
                "OpenAICompatible needs a base_url (e.g. http://localhost:11434/v1); pass base_url= "
                "or set LLMTEAM_BASE_URL"
            )
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LLMConfigError(f"base_url {base!r} is not an http(s) URL; use e.g. http://localhost:11434/v1")
        chosen_model = model or env.model
        if not chosen_model:
            raise LLMConfigError("OpenAICompatible needs a model name; pass model= or set LLMTEAM_MODEL")
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout),
                            ("backoff_base", backoff_base), ("backoff_max", backoff_max),
                            ("max_retry_after", max_retry_after)):
            if not _seconds(value) or (name.endswith("timeout") and value == 0):
                raise LLMConfigError(f"{name}={value!r} must be a positive number of seconds")
        if total_timeout is not None and (not _seconds(total_timeout) or total_timeout == 0):
            raise LLMConfigError(f"total_timeout={total_timeout!r} must be a positive number of seconds (or None: "
                                 "no bound on a whole call)")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise LLMConfigError(f"max_retries={max_retries!r} must be an integer >= 0")
        if type(max_response_bytes) is not int or max_response_bytes < 1:
            raise LLMConfigError(f"max_response_bytes={max_response_bytes!r} must be a positive number of bytes")
        bad = _FORBIDDEN_OPTIONS.intersection(default_options or {})
        if bad:
            raise LLMConfigError(f"default_options may not set {sorted(bad)}; use stream() to stream")
        self.base_url = base.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = chosen_model
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_retries = max_retries
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_retry_after = float(max_retry_after)
        self.default_options = dict(default_options or {})
        self.max_response_bytes = max_response_bytes
        self.total_timeout = None if total_timeout is None else float(total_timeout)
        self._api_key = api_key if api_key is not None else env.api_key
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r})"

    # -- client lifecycle --------------------------------------------------------------------------
    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                headers=self._headers,
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connection pool (a later call opens a new one)."""
        client, self._client, self._client_loop = self._client, None, None
        if client is not None and not client.is_closed:
            await client.aclose()

    async def __aenter__(self) -> OpenAICompatible:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- provider API ------------------------------------------------------------------------------
    async def generate(self, prompt: str) -> str:
        """Answer one user prompt with the model's text."""
        return (await self.complete([{"role": "user", "content": prompt}])).text

    async def complete(
        self, messages: list[Message], *, tools: Sequence[ToolSpec] | None = None, **options: Any
    ) -> Completion:
        """POST the conversation (offering ``tools``) and return the first choice with its usage and tool calls."""
        response, _ = await self._post(self._payload(messages, tools, options, stream=False), stream=False)
        return parse_completion(response, self.url, self.model, messages)

    async def stream(
        self, messages: list[Message], *, tools: Sequence[ToolSpec] | None = None, **options: Any
    ) -> AsyncIterator[StreamEvent]:
        """Stream the answer over SSE: :class:`TextDelta` s as they arrive, then the final :class:`Completion`.

        Usage stays exact: the request asks for ``stream_options.include_usage`` and the final chunk's usage is
        used (estimated only when the server sends none). Retries happen only before the first byte.
        """
        import httpx

        response, deadline = await self._post(self._payload(messages, tools, options, stream=True), stream=True)
        try:
            async for event in read_sse_completion(response, self.url, self.model, messages,
                                                   self.max_response_bytes, deadline):
                yield event
        except TimeoutError as exc:  # the whole call's bound (a stalled read is httpx's, below)
            raise self._late(exc) from None
        except httpx.TimeoutException as exc:  # past the first byte: not retried (the answer was under way)
            raise LLMTimeoutError(
                f"the answer streamed from POST {self.url} stalled: nothing for {self.timeout:g}s "
                f"({type(exc).__name__}); the model may be overloaded: raise timeout= or try again",
                self.url, self.timeout,
            ) from None
        except httpx.TransportError as exc:
            raise LLMConnectionError(f"the answer streamed from POST {self.url} broke off "
                                     f"({exc or type(exc).__name__}); try again", self.url) from None
        except httpx.DecodingError as exc:
            raise _undecodable(self.url, exc) from None
        finally:
            await response.aclose()

    def _payload(self, messages: list[Message], tools: Sequence[ToolSpec] | None, options: dict[str, Any],
                 *, stream: bool) -> dict[str, Any]:
        validate_messages(messages)
        bad = _FORBIDDEN_OPTIONS.intersection(options)
        if bad:
            raise LLMConfigError(f"option(s) {sorted(bad)} may not be passed; use stream() to stream")
        payload: dict[str, Any] = {"model": self.model, **self.default_options, **options, "messages": messages}
        if tools:
            payload["tools"] = [spec.to_openai() for spec in tools]
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {**payload.get("stream_options", {}), "include_usage": True}
        return payload

    async def _send(self, payload: dict[str, Any], *, stream: bool) -> Any:
        """POST with retries; returns the 2xx response (unread when ``stream``, else its :class:`Answer`, read
        within ``max_response_bytes``), or raises the last error (of an error body only the start is read)."""
        import httpx

        client = self._get_client()
        body = json_body(payload)
        last_error: LLMError | None = None
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                request = client.build_request("POST", self.url, content=body)  # the client's headers say JSON
                response = await client.send(request, stream=True)  # read below, never without a bound
                if response.status_code >= 300:
                    response = await read_answer(response, self.url, ERROR_BODY_BYTES, truncate=True)
                elif not stream:
                    response = await read_answer(response, self.url, self.max_response_bytes)
            except httpx.TimeoutException as exc:
                last_error = LLMTimeoutError(
                    f"POST {self.url} timed out after {self.timeout:g}s ({type(exc).__name__}); the model may be "
                    "overloaded: raise timeout= or try again",
                    self.url,
                    self.timeout,
                )
            except httpx.TransportError as exc:
                last_error = LLMConnectionError(
                    f"cannot reach {self.url}: {exc or type(exc).__name__}; "
                    "is the server running and is base_url right?",
                    self.url,
                )
            except httpx.DecodingError as exc:  # the server's answer itself: asking again would not help
                raise _undecodable(self.url, exc) from None
            else:
                if response.status_code < 300:
                    return response
                last_error = self._http_error(response)
                if response.status_code not in RETRYABLE_STATUS:
                    raise last_error
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if retry_after is not None and retry_after > self.max_retry_after:
                    raise self._http_error(response, note=f"; server asks to retry after {retry_after:g}s, more "
                                           f"than max_retry_after={self.max_retry_after:g}s")
            if attempt == self.max_retries:
                break
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_max)
            if retry_after is not None:
                delay = max(delay, retry_after)
            logger.warning("%s; retry %d/%d in %.2fs", last_error, attempt + 1, self.max_retries, delay)
            await asyncio.sleep(delay)
        assert last_error is not None
        if self.max_retries:
            last_error.args = (f"{last_error.args[0]} (gave up after {self.max_retries + 1} attempts)",)
        raise last_error

    # -- helpers -----------------------------------------------------------------------------------
    async def _post(self, payload: dict[str, Any], *, stream: bool) -> tuple[Any, float | None]:
        """:meth:`_send` within ``total_timeout``; the response and the deadline (event-loop time, or None) the
        rest of the call must keep."""
        deadline = None if self.total_timeout is None else asyncio.get_running_loop().time() + self.total_timeout
        try:
            return await within(self._send(payload, stream=stream), deadline), deadline
        except TimeoutError as exc:
            raise self._late(exc) from None

    def _late(self, exc: TimeoutError) -> LLMTimeoutError:
        """The error for a call past ``total_timeout`` (an LLMTimeoutError from inside is passed on as it is)."""
        if isinstance(exc, LLMTimeoutError):
            return exc
        return LLMTimeoutError(f"POST {self.url} took more than total_timeout={self.total_timeout:g}s in all "
                               "(retries and a slowly trickling answer included); raise total_timeout= for longer "
                               "answers", self.url, self.total_timeout or 0.0)

    def _http_error(self, response: Any, note: str = "") -> LLMHTTPError:
        status = int(response.status_code)
        body = response.text[:2000]
        detail = body[:300]
        try:
            data = json.loads(body)
            err = data.get("error") if isinstance(data, dict) else None
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                detail = err["message"][:300]
            elif isinstance(err, str):
                detail = err[:300]
        except ValueError:
            pass
        hint = _HINTS.get(status, "the server failed; try again later" if status >= 500 else "")
        message = f"POST {self.url} answered HTTP {status}: {detail or response.reason_phrase}"
        message += f" ({hint})" if hint else ""
        message += note
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return LLMRateLimitError(message, self.url, body, retry_after)
        return LLMHTTPError(message, status, self.url, body)


def _seconds(value: object) -> bool:
    """True for a number of seconds: an int or float, not a bool, not NaN, not negative."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _undecodable(url: str, exc: Exception) -> LLMResponseError:
    """The error for an answer whose body cannot be decoded as its Content-Encoding says (not gzip after all)."""
    return LLMResponseError(f"POST {url} answered a body that cannot be decoded as its Content-Encoding says "
                            f"({exc or type(exc).__name__}); check the server or a proxy in between")
