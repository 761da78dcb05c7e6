"""Structured output: Agent(output=Model or JSON Schema), response_format or instructions, repair, typed values."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from llmteam.audit import AuditEventType, AuditQuery
from llmteam.llm import Completion, OpenAICompatible, ScriptedLLM, TokenUsage
from llmteam.team import Agent, ContextDeniedError, PromptVariableError, Team, TeamConfigError, load_team
from llmteam.team._structured import OutputSchema, Structured, StructuredOutputError

from .._support.chat_server import ChatServer, completion


class Ticket(BaseModel):
    category: Literal["billing", "account", "other"]
    urgent: bool
    summary: str


TICKET = {"category": "billing", "urgent": True, "summary": "invoice wrong"}


def ticket_team(llm: Any, **agent: Any) -> Team:
    return Team("support", llm=llm, agents=[
        Agent("triage", prompt="Classify: {query}", output=Ticket, **agent),
        Agent("answer", prompt="Reply to a {triage.category} ticket (urgent={triage.urgent}): {triage}"),
    ])


async def run(team: Team, query: str = "My invoice is wrong") -> Any:
    async with team.runtime("memory://", tenant="acme") as rt:
        return await rt.run({"query": query})


async def test_a_valid_answer_is_typed_in_the_result_and_usable_by_later_agents() -> None:
    llm = ScriptedLLM({"Classify": json.dumps(TICKET), "Reply": "Fixed."})
    result = await run(ticket_team(llm))
    assert result.values["triage"] == Ticket(**TICKET)
    assert json.loads(result.outputs["triage"]) == TICKET
    assert "answer" not in result.values  # plain text agents have no typed value
    reply_prompt = llm.calls[-1]
    assert reply_prompt.startswith("Reply to a billing ticket (urgent=true): {")
    assert json.loads(reply_prompt.split(": ", 1)[1]) == TICKET


async def test_without_response_format_support_the_schema_is_in_the_prompt() -> None:
    seen: list[list[dict[str, Any]]] = []

    def respond(messages: list[dict[str, Any]]) -> str | None:
        seen.append(messages)
        return json.dumps(TICKET) if "Classify" in messages[0]["content"] else None

    llm = ScriptedLLM(default="ok", respond=respond)
    await run(ticket_team(llm))
    instruction = seen[0][-1]
    assert instruction["role"] == "system" and "JSON Schema" in instruction["content"]
    assert json.loads(instruction["content"].split("\n", 1)[1]) == Ticket.model_json_schema()


class Recording:
    """A provider that records its options and answers from a list (a stand-in server with response_format)."""

    supports_response_format = True

    def __init__(self, *answers: str) -> None:
        self.model = "rec"
        self.answers = list(answers)
        self.requests: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    async def generate(self, prompt: str) -> str:
        return (await self.complete([{"role": "user", "content": prompt}])).text

    async def complete(self, messages: list[dict[str, Any]], **options: Any) -> Completion:
        self.requests.append((messages, options))
        return Completion(self.answers.pop(0), TokenUsage(10, 5), "rec")


async def test_a_provider_that_supports_it_gets_response_format_and_no_instruction() -> None:
    llm = Recording(json.dumps(TICKET), "Fixed.")
    await run(ticket_team(llm, options={"temperature": 0}))
    messages, options = llm.requests[0]
    assert options["response_format"] == {"type": "json_schema",
                                          "json_schema": {"name": "Ticket", "schema": Ticket.model_json_schema()}}
    assert options["temperature"] == 0
    assert [m["role"] for m in messages] == ["user"]
    assert "response_format" not in llm.requests[1][1]


async def test_one_repair_round_tells_the_model_the_error_and_counts_both_calls() -> None:
    llm = Recording('{"category": "refund", "urgent": true, "summary": "x"}', json.dumps(TICKET), "Fixed.")
    result = await run(ticket_team(llm))
    assert result.values["triage"].category == "billing"
    repair = llm.requests[1][0]
    assert repair[-2] == {"role": "assistant", "content": '{"category": "refund", "urgent": true, "summary": "x"}'}
    assert repair[-1]["role"] == "user"
    assert "category: Input should be 'billing', 'account' or 'other'" in repair[-1]["content"]
    assert result.usage_by_agent["triage"].prompt_tokens == 20
    assert result.usage_by_agent["triage"].completion_tokens == 10


async def test_invalid_after_repair_fails_the_step_naming_agent_and_problem() -> None:
    llm = Recording("not json at all", '{"category": "billing"}')
    team = ticket_team(llm)
    async with team.runtime("memory://", tenant="acme") as rt:
        with pytest.raises(StructuredOutputError, match=r"agent 'triage'.*Ticket after one repair round: .*"
                                                        r"urgent: Field required; summary: Field required"):
            await rt.run({"query": "q"})
        async with rt.tenants.context("acme"):
            records = await rt.audit.query(AuditQuery(limit=20, order_by="sequence_number", order_desc=False))
            assert await rt.audit.verify_chain() == (True, [])
    failed = [r for r in records if r.event_type == AuditEventType.AGENT_FAILED]
    assert len(failed) == 1 and "StructuredOutputError" in (failed[0].error_message or "")


async def test_fenced_json_is_accepted() -> None:
    llm = ScriptedLLM({"Classify": "```json\n" + json.dumps(TICKET) + "\n```", "Reply": "ok"})
    assert (await run(ticket_team(llm))).values["triage"].urgent is True


async def test_a_json_schema_output_from_yaml() -> None:
    team = load_team("""
team: orders
llm: {provider: scripted, rules: [{match: "Extract", answer: '{"order": "A-1", "qty": 3}'}], default: "done"}
agents:
  - name: extract
    prompt: "Extract the order from {text}"
    output:
      type: object
      properties: {order: {type: string}, qty: {type: integer, minimum: 1}}
      required: [order, qty]
  - name: confirm
    prompt: "Confirm order {extract.order} x{extract.qty}"
""")
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"text": "three of A-1"})
    assert result.values["extract"] == {"order": "A-1", "qty": 3}
    assert team.llm.calls[-1] == "Confirm order A-1 x3"


def test_a_bad_schema_or_output_is_refused_when_the_team_is_built() -> None:
    with pytest.raises(TeamConfigError, match="agent 'a': output schema is not a valid JSON Schema"):
        Agent("a", prompt="p", output={"type": "no-such-type"})
    with pytest.raises(TeamConfigError, match="must be a pydantic model class or a JSON Schema mapping"):
        Agent("a", prompt="p", output=str)
    with pytest.raises(TeamConfigError, match=r"agents\[0\]\.output must be Mapping"):
        load_team("team: t\nllm: {provider: scripted, default: x}\nagents: [{name: a, prompt: p, output: 3}]\n")


async def test_a_dotted_placeholder_names_missing_keys_and_refuses_plain_text() -> None:
    llm = ScriptedLLM({"Classify": json.dumps(TICKET)}, default="x")
    team = Team("t", llm=llm, agents=[Agent("triage", prompt="Classify: {query}", output=Ticket),
                                      Agent("next", prompt="{triage.priority}")])
    with pytest.raises(PromptVariableError, match=r"triage has no key 'priority' \(category, summary, urgent\)"):
        await run(team)
    plain = Team("t", llm=llm, agents=[Agent("first", prompt="Hi {query}"), Agent("next", prompt="{first.x}")])
    with pytest.raises(PromptVariableError, match="first has no key 'x' \\(not a mapping"):
        await run(plain)


async def test_a_sealed_structured_output_stays_sealed() -> None:
    llm = ScriptedLLM({"Classify": json.dumps(TICKET)}, default="x")
    team = Team("t", llm=llm, agents=[Agent("triage", prompt="Classify: {query}", output=Ticket, sensitivity="secret"),
                                      Agent("leak", prompt="{triage.summary}")])
    with pytest.raises(ContextDeniedError):
        await run(team)
    quiet = Team("t", llm=llm, output="other", agents=[
        Agent("triage", prompt="Classify: {query}", output=Ticket, sensitivity="secret"),
        Agent("other", prompt="Hello {query}")])
    result = await run(quiet)
    assert "triage" not in result.values and "triage" not in result.outputs


@settings(max_examples=50, deadline=None)
@given(st.fixed_dictionaries({"category": st.sampled_from(["billing", "account", "other"]), "urgent": st.booleans(),
                              "summary": st.text(max_size=40)}), st.booleans())
def test_parse_of_dump_is_the_identity(data: dict[str, Any], fenced: bool) -> None:
    schema = OutputSchema(Ticket, "a")
    value = schema.parse(json.dumps(data))
    text = schema.dump(value)
    again = schema.parse(f"```json\n{text}\n```" if fenced else text)
    assert again == value == Ticket(**data)
    assert Structured(text).data == data


# -- a real local chat-completions server that honours response_format ------------------------------------------


def honour_response_format(body: dict[str, Any]) -> ChatCompletion:
    """JSON matching a json_schema response_format (checked with jsonschema), prose otherwise, as a model without
    structured output would answer."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        import jsonschema

        jsonschema.validate(TICKET, fmt["json_schema"]["schema"])
        return completion(json.dumps(TICKET), usage=(11, 7), model=body["model"])
    return completion("Sure! This looks like a billing problem.", usage=(11, 7), model=body["model"])


async def test_against_a_real_server_that_honours_response_format(chat_server: ChatServer) -> None:
    chat_server.answer = honour_response_format
    llm = OpenAICompatible(chat_server.base_url, "local-model", max_retries=0)
    team = Team("support", llm=llm, agents=[Agent("triage", prompt="Classify: {query}", output=Ticket)])
    result = await run(team)
    await llm.aclose()
    assert result.values["triage"] == Ticket(**TICKET)
    sent = chat_server.bodies[0]
    assert sent["response_format"]["json_schema"]["name"] == "Ticket"
    assert sent["response_format"]["json_schema"]["schema"] == Ticket.model_json_schema()


async def test_a_server_without_structured_output_gets_a_repair_round_then_fails(chat_server: ChatServer) -> None:
    chat_server.answer = honour_response_format
    llm = OpenAICompatible(chat_server.base_url, "local-model", max_retries=0)
    llm.supports_response_format = False
    team = Team("support", llm=llm, agents=[Agent("triage", prompt="Classify: {query}", output=Ticket)])
    with pytest.raises(StructuredOutputError, match="agent 'triage'.*not valid JSON"):
        await run(team)
    await llm.aclose()
    assert len(chat_server.bodies) == 2 and all("response_format" not in r for r in chat_server.bodies)
    assert "Your answer was invalid" in chat_server.bodies[1]["messages"][-1]["content"]


def refusal_answer(body: dict[str, Any]) -> ChatCompletion:
    """What an OpenAI model answers when it declines a structured request: no content, ``message.refusal``."""
    return ChatCompletion.model_validate({
        "id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": None, "refusal": "I'm sorry, I can't help with that request."}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 10, "total_tokens": 19},
    })


async def test_a_refusal_fails_the_step_at_once_naming_it(chat_server: ChatServer) -> None:
    """It used to be parsed as an empty answer, asked again in a repair round, and reported as 'not valid JSON'."""
    chat_server.answer = refusal_answer
    llm = OpenAICompatible(chat_server.base_url, "local-model", max_retries=0)
    team = Team("support", llm=llm, agents=[Agent("triage", prompt="Classify: {query}", output=Ticket)])
    with pytest.raises(StructuredOutputError, match="agent 'triage': the model refused to answer with Ticket: "
                                                    "I'm sorry, I can't help with that request."):
        await run(team)
    await llm.aclose()
    assert len(chat_server.bodies) == 1  # no repair round


async def test_a_refusal_is_a_plain_agents_answer(chat_server: ChatServer) -> None:
    chat_server.answer = refusal_answer
    llm = OpenAICompatible(chat_server.base_url, "local-model", max_retries=0)
    result = await run(Team("support", llm=llm, agents=[Agent("reply", prompt="Reply to {query}")]))
    await llm.aclose()
    assert result.output == "I'm sorry, I can't help with that request."
