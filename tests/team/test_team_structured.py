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


# -- what an invalid answer may reveal: paths and schema keywords, never a value (the review's findings) -------

CARD = "4111-1111-1111-1111"


async def test_a_sealed_answer_never_reaches_the_error_the_run_record_or_the_audit_chain() -> None:
    """It was quoted (``text[:200]`` and jsonschema's message) into the error, the run record, AGENT_FAILED and
    PIPELINE_FAILED, with content capture off."""
    llm = ScriptedLLM(default=json.dumps({"card": CARD, CARD: 1}))
    schema = {"type": "object", "properties": {"card": {"type": "string", "pattern": "^x$"}},
              "additionalProperties": False}
    team = Team("t", llm=llm, agents=[Agent("vault", prompt="card of {q}", sensitivity="secret", output=schema)])
    async with team.runtime("memory://", tenant="acme") as rt:
        with pytest.raises(StructuredOutputError) as caught:
            await rt.run({"q": "bob"}, run_id="r1")
        record = await rt.get_run("r1")
        async with rt.tenants.context("acme"):
            audited = await rt.audit.query(AuditQuery(run_id="r1", limit=100))
    message = str(caught.value)
    assert "card: fails 'pattern' (the schema wants '^x$')" in message
    assert "(root): has a property the schema does not allow" in message
    assert record is not None and record.status == "failed" and record.error
    for text in (message, record.error, *(str(r.to_dict()) for r in audited)):
        assert CARD not in text and "4111" not in text
    assert CARD not in llm.calls[-1]  # the repair round does not echo a value in its instruction either


def _ticket(**fields: Any) -> str:
    return json.dumps({"category": "billing", "urgent": True, "summary": "x", **fields})


@pytest.mark.parametrize("answer, fragment", [
    (_ticket(category=CARD), "category: Input should be 'billing', 'account' or 'other'"),
    (_ticket(urgent=CARD), "urgent: Input should be a valid boolean"),
    (f"prose mentioning {CARD}", "not valid JSON (Expecting value at line 1 column 1)"),
    (_ticket(**{CARD: 1}), None),
])
def test_pydantic_problems_name_the_path_and_the_rule_not_the_value(answer: str, fragment: str | None) -> None:
    class Strict(Ticket):
        model_config = {"extra": "forbid"}

    with pytest.raises(ValueError) as caught:
        OutputSchema(Strict, "a").parse(answer)
    assert CARD not in str(caught.value) and "4111" not in str(caught.value)
    assert fragment is None or fragment in str(caught.value)
    if fragment is None:
        assert "<key>: Extra inputs are not permitted" in str(caught.value)  # an undeclared key is masked


def test_a_failing_custom_validator_is_a_structured_output_problem_without_its_message() -> None:
    from pydantic import field_validator

    class Checked(BaseModel):
        card: str

        @field_validator("card")
        @classmethod
        def known(cls, value: str) -> str:
            if value.startswith("4"):
                raise ValueError(f"card {value} is blocked")
            raise RuntimeError(f"lookup of {value} failed")

    for answer, said in (({"card": CARD}, "card: fails 'value_error'"),
                         ({"card": "5" + CARD}, "checking the JSON against Checked failed (RuntimeError)")):
        with pytest.raises(ValueError) as caught:
            OutputSchema(Checked, "a").parse(json.dumps(answer))
        assert said in str(caught.value) and "4111" not in str(caught.value)


async def test_a_sealed_agents_refusal_is_not_quoted(chat_server: ChatServer) -> None:
    chat_server.answer = refusal_answer
    llm = OpenAICompatible(chat_server.base_url, "local-model", max_retries=0)
    team = Team("support", llm=llm, agents=[Agent("triage", prompt="Classify: {query}", output=Ticket,
                                                  sensitivity="secret")])
    with pytest.raises(StructuredOutputError, match=r"refused to answer with Ticket: \(42 characters, sealed\)") as e:
        await run(team)
    await llm.aclose()
    assert "sorry" not in str(e.value)


@pytest.mark.parametrize("answer", [
    '{"score": NaN}', '{"score": Infinity}', '{"score": -Infinity}', '{"score": 1e999}', '{"score": -1e400}',
])
async def test_non_finite_numbers_are_not_json_and_get_a_repair_round(answer: str) -> None:
    """``{"score": NaN, "big": 1e999}`` was accepted and stored as NaN/Infinity (not JSON)."""
    schema = {"type": "object", "properties": {"score": {"type": "number"}}}
    llm = Recording(answer, '{"score": 0.5}')
    team = Team("t", llm=llm, agents=[Agent("rate", prompt="rate {q}", output=schema)])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"q": "x"})
    assert result.values["rate"] == {"score": 0.5} and len(llm.requests) == 2
    assert "is not JSON" in llm.requests[1][0][-1]["content"] or "out of range" in llm.requests[1][0][-1]["content"]
    with pytest.raises(ValueError, match="Infinity is not JSON|NaN is not JSON|out of range"):
        OutputSchema(schema, "a").parse(answer)


@pytest.mark.parametrize("depth", [101, 5_000, 200_000])
async def test_deeply_nested_json_gets_a_repair_round_not_a_recursion_error(depth: int) -> None:
    """100,000 nested brackets raised a bare RecursionError out of the run (no repair round)."""
    llm = Recording("[" * depth + "]" * depth, "[[1]]")
    team = Team("t", llm=llm, agents=[Agent("a", prompt="give {q}", output={"type": "array"})])
    async with team.runtime("memory://", tenant="acme") as rt:
        result = await rt.run({"q": "x"})
    assert result.values["a"] == [[1]]
    assert "nested more than 100 levels" in llm.requests[1][0][-1]["content"]
    assert OutputSchema({"type": "array"}, "a").parse("[" * 100 + "]" * 100) is not None  # 100 levels are fine


@pytest.mark.parametrize("schema", [
    {"$ref": "#/definitions/nope"},
    {"$ref": "http://127.0.0.1:9/s.json"},
    {"$ref": "other.json#/x"},
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}, "$defs": {"b": {"type": "string"}}},
    {"type": "array", "items": {"$ref": "#nowhere"}},
    {"$defs": {"x": {"$id": "http://example.com/x", "type": "string"}}, "$ref": "#/$defs/x"},
])
def test_a_reference_that_does_not_resolve_inside_the_schema_is_refused_when_the_team_is_built(
        schema: dict[str, Any]) -> None:
    """They loaded fine and failed every run after the model was billed (a remote one was even fetched)."""
    with pytest.raises(TeamConfigError, match="agent 'a': output schema"):
        Agent("a", prompt="p", output=schema)


def test_references_inside_the_schema_are_fine() -> None:
    schema = {"type": "object", "$defs": {"money": {"type": "number", "minimum": 0}, "tag": {"$anchor": "tag",
                                                                                           "type": "string"}},
              "properties": {"total": {"$ref": "#/$defs/money"}, "tags": {"type": "array", "items": {"$ref": "#tag"}},
                             "self": {"$ref": "#"}, "enum": {"const": {"$ref": "not a reference"}}}}
    parsed = OutputSchema(schema, "a")
    assert parsed.parse('{"total": 3, "tags": ["x"]}') == {"total": 3, "tags": ["x"]}
    with pytest.raises(ValueError, match=r"total: fails 'minimum' \(the schema wants 0\)"):
        parsed.parse('{"total": -1}')
    OutputSchema(Ticket, "b")  # a pydantic model's own $defs


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=20), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20))
def test_a_problem_never_quotes_a_string_of_the_answer(data: Any) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "array", "items": False}},
              "required": ["a"], "additionalProperties": False}
    marker = {"a": "SECRET-VALUE", "b": [data], "SECRET-KEY": data, "x": data}
    with pytest.raises(ValueError) as caught:
        OutputSchema(schema, "s").parse(json.dumps(marker))
    assert "SECRET" not in str(caught.value)
