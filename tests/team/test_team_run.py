"""Per-agent secure contexts: an agent reads another's output only as its owner's policy allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import MAX_SERVED_NAME, OpenAICompatible, ScriptedLLM
from llmteam.team import Agent, ContextDeniedError, Team
from llmteam.team._run import SEALED_MARK, provider_key

from .._support.chat_server import ChatServer, Reply


def llm() -> ScriptedLLM:
    return ScriptedLLM({"extract": "SSN 123-45-6789", "summarise": "summary"}, default="final")


async def test_secret_output_never_reaches_another_agent() -> None:
    team = Team("t", llm=llm(), agents=[
        Agent("extract", prompt="extract from {doc}", sensitivity="secret"),
        Agent("summarise", prompt="summarise {doc}"),
    ])
    async with team.runtime("memory://", tenant="t1") as rt:
        result = await rt.run({"doc": "d"})
        assert result.output == "summary"
        assert "extract" not in result.outputs  # hidden from the caller's outputs too
        assert "123-45-6789" not in str(result.to_dict())
        ctx = result.contexts["extract"]
        assert ctx["access_policy"]["sensitivity"] == "secret" and ctx["access_policy"]["sealed_fields"] == ["output"]
        assert "123-45-6789" not in str(result.contexts)


async def test_prompt_asking_for_secret_output_is_denied_and_audited() -> None:
    model = llm()
    team = Team("t", llm=model, agents=[
        Agent("extract", prompt="extract from {doc}", sensitivity="secret"),
        Agent("leak", prompt="repeat {extract}"),
    ])
    async with team.runtime("memory://", tenant="t1") as rt:
        with pytest.raises(ContextDeniedError, match="agent 'leak' may not see the output of agent 'extract'"):
            await rt.run({"doc": "d"})
        async with rt.tenants.context("t1"):
            denied = await rt.audit.query(AuditQuery(event_types=[AuditEventType.ACCESS_DENIED]))
        assert len(denied) == 1 and denied[0].actor_id == "leak" and denied[0].resource_id == "extract"
        [run] = await rt.runs()
        assert run.status == "failed"
        assert model.call_count == 1  # only extract called the model; leak was stopped before its call


@pytest.mark.parametrize("level", ["public", "internal", "confidential"])
async def test_readable_levels_pass_through_the_orchestrator(level: str) -> None:
    team = Team("t", llm=llm(), agents=[
        Agent("extract", prompt="extract {doc}", sensitivity=level),
        Agent("summarise", prompt="summarise {extract}"),
    ])
    async with team.runtime("memory://", tenant="t1") as rt:
        result = await rt.run({"doc": "d"})
        assert result.outputs["extract"] == "SSN 123-45-6789" and result.output == "summary"


async def test_routes_see_sealed_mark_for_secret_agents() -> None:
    from llmteam.team import Route

    team = Team("t", llm=llm(), agents=[
        Agent("extract", prompt="extract {doc}", sensitivity="top_secret"),
        Agent("summarise", prompt="summarise {doc}"),
    ], routes=[Route("extract", "end", contains="123")])
    async with team.runtime("memory://", tenant="t1") as rt:
        result = await rt.run({"doc": "d"})
    # the route could not match the hidden text (it saw only the sealed mark), so the run went on to summarise
    assert [s.agent for s in result.steps] == ["extract", "summarise"] and SEALED_MARK == "[SEALED]"


def test_provider_key() -> None:
    from llmteam.llm import OpenAICompatible

    assert provider_key(ScriptedLLM(model="m")) == "ScriptedLLM|m"
    assert provider_key(OpenAICompatible("http://h:1/v1", model="x")) == "http://h:1/v1|x"


async def test_a_secret_output_is_not_logged_as_a_guessable_sha256() -> None:
    """Issue 11 #17, the attacker's move: hash candidate outputs and look for a match in the audit log."""
    import hashlib
    import json

    from llmteam.audit import set_checksum_key

    team = Team("t", llm=llm(), agents=[Agent("extract", prompt="extract from {doc}", sensitivity="secret")])
    guess = hashlib.sha256(b"SSN 123-45-6789").hexdigest()
    for key in (None, b"k" * 32):
        set_checksum_key(key)
        try:
            async with team.runtime("memory://", tenant="t1") as rt:
                await rt.run({"doc": "d"})
                async with rt.tenants.context("t1"):
                    log = json.dumps([r.to_dict() for r in await rt.audit.query(AuditQuery(limit=1000))])
        finally:
            set_checksum_key(None)
        assert guess not in log  # neither the agent's record nor the run's completion record carries it
        assert "output_hmac_sha256" in log


async def run_on_raw_answer(chat_server: ChatServer, url: str, content: str, prompt_tokens: str,
                            model: str = '"m"', finish: str = '"stop"') -> tuple[Any, ...]:
    """One run of a one-agent team whose model server answers this JSON text as it is (what pydantic would not
    write): ``content``, ``model`` and ``finish`` JSON string literals, ``prompt_tokens`` a JSON number. Returns
    the result, the stored run and whether the audit chain verifies."""
    body = (f'{{"id":"c","object":"chat.completion","created":1,"model":{model},"choices":[{{"index":0,"message":'
            f'{{"role":"assistant","content":{content}}},"finish_reason":{finish}}}],'
            f'"usage":{{"prompt_tokens":{prompt_tokens},"completion_tokens":5,"total_tokens":5}}}}')
    chat_server.answer = lambda req: Reply(body=body)
    model = OpenAICompatible(chat_server.base_url, model="m", max_retries=0)
    team = Team("t", llm=model, agents=[Agent("clerk", prompt="Handle {q}")])
    try:
        async with team.runtime(url, tenant="t1") as rt:
            result = await rt.run({"q": "x"})
            return result, await rt.get_run(result.run_id), (await rt.verify_audit())[0]
    finally:
        await model.aclose()


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
async def test_a_model_answer_with_a_lone_surrogate_escape_completes_as_valid_text(
        chat_server: ChatServer, tmp_path: Path, url: str) -> None:
    """A real server's JSON may escape a UTF-16 surrogate that is no character (``\\ud800``). The run used to die
    with a UnicodeEncodeError while digesting the output; it now completes with U+FFFD in its place."""
    url = url if url == "memory://" else f"sqlite:///{tmp_path}/runs.db"
    result, stored, verified = await run_on_raw_answer(chat_server, url, '"refund \\ud800 sent"', "3")
    assert result.output == "refund \ufffd sent"
    assert stored is not None and stored.output == result.output and verified


async def test_an_absurd_token_count_from_the_server_is_estimated_instead(chat_server: ChatServer,
                                                                         tmp_path: Path) -> None:
    """A server reporting 10**28 prompt tokens failed the run after its model call: the SQLite run store cannot hold
    the count (OverflowError). Counts beyond any context window are estimated like missing ones."""
    result, stored, _ = await run_on_raw_answer(chat_server, f"sqlite:///{tmp_path}/runs.db", '"ok"', "1" + "0" * 28)
    assert result.output == "ok" and 0 < result.usage.prompt_tokens < 100 and result.usage.completion_tokens == 5
    assert stored is not None and stored.status == "completed" and stored.usage == result.usage


async def test_a_served_model_name_of_megabytes_is_bounded(chat_server: ChatServer, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """An attacker's move: a server naming its model (and finish reason) with 5 MB each. Both were kept whole: in
    the step's result, the stored run, every log line about the run's price and the trace's span attributes."""
    huge = '"' + "m" * 5_000_000 + '"'
    with caplog.at_level("WARNING"):
        result, stored, verified = await run_on_raw_answer(chat_server, f"sqlite:///{tmp_path}/runs.db", '"ok"', "3",
                                                           model=huge, finish=huge)
    assert result.output == "ok" and verified and stored is not None
    served = result.steps[0].model
    assert served.startswith("mmm") and len(served) <= MAX_SERVED_NAME
    assert all(len(v) <= MAX_SERVED_NAME for v in stored.models.values())
    assert max((len(r.getMessage()) for r in caplog.records), default=0) < 2_000


# -- sealed outputs: the attacker's moves from the review of 2026-11-29 (each passed the screen before) -----------
@pytest.mark.parametrize("output, structured, argument, refused", [
    ("sk-LIVE-12345\n", False, "sk-LIVE-12345", True),  # a trailing newline hid the value
    ("  sk-LIVE-12345 ", False, "key sk-LIVE-12345", True),
    ('{"user": "ops", "api_key": "sk-LIVE-12345"}', True, "sk-LIVE-12345", True),  # one field of the output
    ('{"user": "ops", "api_key": "sk-LIVE-12345"}', True, "ops", False),  # too short to be sealed on its own
    ('{"user": "ops", "api_key": "sk-LIVE-12345"}', True, "api_key", False),  # a field's name is not its value
    ('{"user": "ops", "pin": 4111111111111111}', True, "4111111111111111", True),
])
async def test_a_sealed_output_is_screened_trimmed_and_field_by_field(
    output: str, structured: bool, argument: str, refused: bool,
) -> None:
    from pydantic import BaseModel

    from llmteam.llm import ToolCall
    from llmteam.tools import tool

    class Creds(BaseModel):
        user: str
        api_key: str = ""
        pin: int = 0

    got: list[str] = []

    @tool
    def post(text: str) -> str:
        """Post text publicly."""
        got.append(text)
        return "posted"

    def model(messages: list[dict[str, Any]]) -> Any:
        if "VAULT" in (messages[0].get("content") or ""):
            return output
        return "ok" if messages[-1]["role"] == "tool" else ToolCall.of("post", {"text": argument})

    team = Team("t", llm=ScriptedLLM(respond=model), agents=[
        Agent("vault", prompt="VAULT {q}", sensitivity="secret", output=Creds if structured else None),
        Agent("clerk", prompt="CLERK {q}", tools=[post]),
    ])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"q": "x"})
    (call,) = [c for s in result.steps for c in s.tool_calls]
    assert (call.decision, got) == (("deny", []) if refused else ("allow", [argument]))
