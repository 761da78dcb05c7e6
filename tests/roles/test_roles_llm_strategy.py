import json

from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.roles import DEFAULT_PROMPT_TEMPLATE, LLMBasedStrategy, OrchestrationContext, PipelineOrchestrator
from llmteam.roles._llm_strategy import MAX_TARGETS, parse_decision, safe_format


class FakeLLM:
    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    async def generate(self, prompt: str) -> object:
        self.prompts.append(prompt)
        return self.answer


def ctx() -> OrchestrationContext:
    history = [{"step": f"s{i}"} for i in range(8)]
    return OrchestrationContext("my_step", ["a", "b"], {"a": {"status": "available"}}, history, {"q": 1})


async def test_default_template_and_attributes() -> None:
    llm = FakeLLM('{"decision": "end"}')
    s = LLMBasedStrategy(llm)
    assert s.llm is llm and s.prompt_template == DEFAULT_PROMPT_TEMPLATE
    for key in ("decision", "targets", "reason", "confidence"):
        assert key in DEFAULT_PROMPT_TEMPLATE
    d = await s.decide(ctx())
    assert d.decision_type == "end" and d.target_agents == [] and d.reason == "llm_decision" and d.confidence == 0.8
    prompt = llm.prompts[0]
    assert "my_step" in prompt and "['a', 'b']" in prompt
    assert "s7" in prompt and "s2" not in prompt  # only the last 5 history entries
    assert '{"decision": "route"' in prompt  # the literal example braces survive


async def test_custom_template_safe_formatting() -> None:
    llm = FakeLLM("{}")
    await LLMBasedStrategy(llm, "Custom prompt: {current_step} {unknown} {{x}} {agents.__class__} {agents[0]}").decide(
        ctx()
    )
    assert llm.prompts[0] == "Custom prompt: my_step {unknown} {x} {agents.__class__} {agents[0]}"


def test_safe_format_spec_and_bad_spec() -> None:
    assert safe_format("{x:.2f}|{x:zz}", {"x": 0.12345}) == "0.12|{x:zz}"
    assert safe_format('{"a": {"b": 1}}', {"a": 1}) == '{"a": {"b": 1}}'


async def test_parses_fenced_and_prose_json() -> None:
    answer = 'Sure!\n```json\n{"decision": "ROUTE", "targets": ["b"], "reason": "next", "confidence": 3}\n```'
    d = await LLMBasedStrategy(FakeLLM(answer)).decide(ctx())
    assert (d.decision_type, d.target_agents, d.reason, d.confidence) == ("route", ["b"], "next", 1.0)


def test_fallbacks() -> None:
    fallback = ("route", [], "llm_parse_error", 0.5)
    cases = [
        "no json here", "{broken", "[1, 2]", '{"decision": "explode"}', '{"decision": 5}',
        '{"targets": "a"}', '{"targets": [1]}', '{"targets": [""]}', None, b'{"decision": "end"}',
        json.dumps({"targets": ["a"] * (MAX_TARGETS + 1)}), json.dumps({"targets": ["x" * 10_000]}),
        "[" * 100_000, "{" * 50_000,
    ]
    for answer in cases:
        d = parse_decision(answer)
        assert (d.decision_type, d.target_agents, d.reason, d.confidence) == fallback, answer


def test_confidence_rules() -> None:
    assert parse_decision('{"confidence": "high"}').confidence == 0.8
    assert parse_decision('{"confidence": true}').confidence == 0.8
    assert parse_decision('{"confidence": NaN}').confidence == 0.8
    assert parse_decision('{"confidence": -2}').confidence == 0.0
    assert parse_decision('{"confidence": 0.3}').confidence == 0.3
    assert parse_decision('{"reason": {"why": 1}}').reason == '{"why": 1}'


def test_huge_output_is_bounded() -> None:
    d = parse_decision("x" * 5_000_000 + '{"decision": "end"}')
    assert d.reason == "llm_parse_error"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet='{}[]":,0123456789abcdefnulrtsue \n`')))
def test_any_output_gives_a_valid_decision(answer: str) -> None:
    d = parse_decision(answer)
    assert d.decision_type in {"route", "retry", "escalate", "skip", "parallel", "end"}
    assert isinstance(d.target_agents, list) and all(isinstance(t, str) for t in d.target_agents)
    assert 0.0 <= d.confidence <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_any_template_formats(template: str) -> None:
    assert isinstance(safe_format(template, {"current_step": "s"}), str)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "\\ud800", "\\udcff", "\\ud83d\\ude00", "\ud800", " "]), max_size=6),
       st.lists(st.sampled_from(["b", "\\udbff", "\udfff", "x"]), min_size=1, max_size=4))
def test_a_decision_is_valid_unicode_whatever_the_model_escapes(reason: list[str], target: list[str]) -> None:
    """A custom provider's ``generate()`` returns any str, and JSON can escape a lone UTF-16 surrogate
    (``"\\ud800"``): the reason and targets used to keep it, and the run's history then failed to encode as UTF-8
    (a UnicodeEncodeError wherever it was written). Lone surrogates become U+FFFD; a pair stays its character."""
    answer = f'{{"decision": "route", "targets": ["{"".join(target)}"], "reason": "{"".join(reason)}"}}'
    d = parse_decision(answer)
    assert d.decision_type == "route" and len(d.target_agents) == 1
    for text in (d.reason, *d.target_agents):
        text.encode("utf-8")
    assert d.reason == json.loads(answer.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass"))[
        "reason"].encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


async def test_a_run_routed_on_a_lone_surrogate_keeps_a_history_that_encodes() -> None:
    class Agent:
        async def process(self, state: dict[str, object]) -> dict[str, object]:
            return {"done": True}

    answers = iter(['{"decision": "route", "targets": ["a"], "reason": "odd \ud800"}',
                    '{"decision": "end", "reason": "x\\udcff"}'])
    pipeline = PipelineOrchestrator("p", strategy=LLMBasedStrategy(FakeLLM(None)))
    pipeline.strategy.llm.generate = lambda prompt: _answer(next(answers))  # type: ignore[attr-defined]
    pipeline.register_agent("a", Agent())
    await pipeline.orchestrate("r1", {})
    history = pipeline.get_execution_history()
    assert [h["decision"]["reason"] for h in history] == ["odd \ufffd", "x\ufffd"]
    json.dumps(history, ensure_ascii=False).encode("utf-8")


async def _answer(text: str) -> str:
    return text
